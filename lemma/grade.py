"""``python -m lemma.grade IN.jsonl [-o OUT.jsonl] [--mode qwen_compat] [--dataset NAME] [--compare math_verify]``.

Grades a JSONL file of (prediction, gold) records with ``lemma.grading.Grader``, so that any outputs (ours, Qwen's, a
colleague's) can be re-graded offline with the same isolated grader the pipeline uses (EVALUATION.md §6, §6.1).

Each input line needs ``prediction`` (a full response or a bare answer; extraction applies either way; ``text``, as
generations files name it, is read when ``prediction`` is absent) and ``gold`` (as the dataset gives it, or a whole
solution). An optional ``truncated`` (true when generation hit its token limit, as generations files carry it) makes a
response without any answer marker wrong (``truncated_no_answer``); qwen_compat grades such a response on its last
number, as the paper did. With a ``dataset`` field on the line (it wins) or ``--dataset``, ``normalize_gold`` turns
the raw gold into the canonical one. Output lines are the input records plus ``extracted`` and ``correct``
(``timed_out``, ``grading_error``, ``truncated_no_answer`` only when set). With ``--compare math_verify``, each line
also gets plain Math-Verify's verdict (``math_verify``) and, where the two differ, the rule that makes lemma differ
(``disagreement``); the counts by rule go to stderr. A malformed line is reported with its number and skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lemma.grading import GRADER_VERSION, MODES, Grader, Verdict, normalize_gold
from lemma.grading.compare import COMPARE_TARGETS, MathVerifyVerdict, compare_with_math_verify

_CHUNK = 5000  # records graded per Grader.grade call: bounds memory on big files, keeps the pool warm
_TRUNCATION_RULES = {
    "math_verify": "a response cut off before any answer marker is wrong",
    "qwen_compat": "a response cut off before any answer marker is graded on its last number (the paper's rule)",
}


@dataclass
class _Summary:
    count: int = 0
    correct: int = 0
    timeouts: int = 0
    errors: int = 0
    truncated_no_answer: int = 0
    malformed: list[int] = field(default_factory=list)
    compared: int = 0
    math_verify_correct: int = 0
    disagreements: Counter[str] = field(default_factory=Counter)

    def add(self, verdict: Verdict, plain: MathVerifyVerdict | None) -> None:
        self.count += 1
        self.correct += verdict.correct
        self.timeouts += verdict.timed_out
        self.errors += verdict.error is not None
        self.truncated_no_answer += verdict.truncated
        if plain is not None and plain.correct is not None:
            self.compared += 1
            self.math_verify_correct += plain.correct
            if plain.disagreement is not None:
                self.disagreements[plain.disagreement] += 1

    def as_dict(self, mode: str, compare: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "count": self.count,
            "accuracy": _percent(self.correct, self.count),
            "correct": self.correct,
            "timeouts": self.timeouts,
            "errors": self.errors,
            "truncated_no_answer": self.truncated_no_answer,
            "truncation_rule": _TRUNCATION_RULES[mode],
            "malformed": len(self.malformed),
            "mode": mode,
            "grader": GRADER_VERSION,
        }
        if compare is not None:
            out[compare] = {
                "compared": self.compared,
                "accuracy": _percent(self.math_verify_correct, self.compared),
                "disagreements": sum(self.disagreements.values()),
                "by_rule": dict(self.disagreements.most_common()),
            }
        return out


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m lemma.grade", description=__doc__.split("\n\n")[1])
    p.add_argument("input", type=Path, help="JSONL with 'prediction' (or 'text') and 'gold' per line")
    p.add_argument("-o", "--output", type=Path, default=None, help="output JSONL (default: stdout)")
    p.add_argument("--mode", choices=MODES, default="math_verify")
    p.add_argument("--dataset", default=None, help="normalise golds as this dataset gives them (see normalize_gold)")
    p.add_argument("--timeout", type=float, default=10.0, help="per-item wall-clock limit in seconds")
    p.add_argument("--workers", type=int, default=None, help="grader worker processes (default: CPUs, at most 8)")
    p.add_argument("--compare", choices=COMPARE_TARGETS, default=None,
                   help="also grade with plain Math-Verify and report the disagreements by rule")
    return p.parse_args(argv)


@dataclass(frozen=True)
class _Item:
    record: dict[str, Any]
    prediction: str
    gold: str
    truncated: bool | None


def _record(line: str, default_dataset: str | None) -> _Item:
    """One input line; ValueError with a reason when the line is malformed."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    pred = rec.get("prediction", rec.get("text"))
    if not isinstance(pred, str):
        raise ValueError("'prediction' missing or not a string")
    truncated = rec.get("truncated")
    if truncated is not None and not isinstance(truncated, bool):
        raise ValueError("'truncated' is not true, false or null")
    return _Item(rec, pred, _gold(rec, default_dataset), truncated)


def _gold(rec: dict[str, Any], default_dataset: str | None) -> str:
    gold = rec.get("gold")
    if gold is None or isinstance(gold, (dict, bool)):
        raise ValueError("'gold' missing or not a string/number/list")
    dataset = rec.get("dataset", default_dataset)
    if dataset is None:
        if not isinstance(gold, (str, int, float)):
            raise ValueError("'gold' is not a string or number (give a dataset to normalise it)")
        return str(gold).strip()
    if not isinstance(dataset, str):
        raise ValueError("'dataset' is not a string")
    return normalize_gold(gold, dataset)


def _chunks(lines: TextIO, dataset: str | None, summary: _Summary) -> Iterator[list[_Item]]:
    chunk: list[_Item] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            chunk.append(_record(line, dataset))
        except ValueError as exc:
            summary.malformed.append(number)
            print(f"lemma.grade: line {number}: malformed, skipped: {exc}", file=sys.stderr)
            continue
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _output_record(rec: dict[str, Any], verdict: Verdict, plain: MathVerifyVerdict | None,
                   compare: str | None) -> dict[str, Any]:
    out = dict(rec)
    out["extracted"] = verdict.extracted
    out["correct"] = verdict.correct
    if verdict.timed_out:
        out["timed_out"] = True
    if verdict.error:
        out["grading_error"] = verdict.error
    if verdict.truncated:
        out["truncated_no_answer"] = True
    if plain is not None and compare is not None:
        out[compare] = {"correct": plain.correct, "extracted": plain.extracted}
        if plain.disagreement is not None:
            out["disagreement"] = plain.disagreement
    return out


def grade_file(args: argparse.Namespace, out: TextIO) -> _Summary:
    summary = _Summary()
    with args.input.open(encoding="utf-8", errors="replace") as lines, Grader(
        mode=args.mode, timeout_s=args.timeout, workers=args.workers
    ) as grader:
        for chunk in _chunks(lines, args.dataset, summary):
            preds, golds, flags = [i.prediction for i in chunk], [i.gold for i in chunk], [i.truncated for i in chunk]
            verdicts = grader.grade(preds, golds, truncated=flags)
            plain: list[MathVerifyVerdict | None] = [None] * len(chunk)
            if args.compare is not None:
                plain = list(compare_with_math_verify(grader, preds, golds, verdicts, flags))
            for item, verdict, mv in zip(chunk, verdicts, plain, strict=True):
                out.write(json.dumps(_output_record(item.record, verdict, mv, args.compare), ensure_ascii=False) + "\n")
                summary.add(verdict, mv)
    return summary


def _report(summary: _Summary, args: argparse.Namespace) -> None:
    print(json.dumps(summary.as_dict(args.mode, args.compare)), file=sys.stderr)
    if args.compare is not None:
        by_rule = ", ".join(f"{rule}: {n}" for rule, n in summary.disagreements.most_common()) or "none"
        print(f"lemma.grade: {sum(summary.disagreements.values())} disagreements with plain {args.compare} "
              f"({summary.compared} compared): {by_rule}", file=sys.stderr)
    if summary.malformed:
        shown = ", ".join(map(str, summary.malformed[:20]))
        more = " ..." if len(summary.malformed) > 20 else ""
        print(f"lemma.grade: malformed lines: {shown}{more}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if not args.input.is_file():
        print(f"lemma.grade: no such file: {args.input}", file=sys.stderr)
        return 2
    if args.output is None:
        summary = grade_file(args, sys.stdout)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with args.output.open("w", encoding="utf-8") as out:
            summary = grade_file(args, out)
    _report(summary, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
