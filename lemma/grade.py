"""``python -m lemma.grade IN.jsonl [-o OUT.jsonl] [--mode qwen_compat] [--dataset NAME] [--timeout S]``.

Grades a JSONL file of (prediction, gold) records with ``lemma.grading.Grader``, so that any outputs (ours, Qwen's, a
colleague's) can be re-graded offline with the same isolated grader the pipeline uses (EVALUATION.md §6, §6.1).

Each input line needs ``prediction`` (a full response or a bare answer; extraction applies either way) and ``gold``
(as the dataset gives it). With a ``dataset`` field on the line (it wins) or ``--dataset``, ``normalize_gold`` turns the
raw gold into the canonical one; otherwise the gold is used as is. Output lines are the input records plus ``extracted``
and ``correct`` (``timed_out`` and ``grading_error`` only when set). A summary goes to stderr. A malformed line is
reported with its number and skipped: one bad record must not lose a whole evaluation run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lemma.grading import GRADER_VERSION, MODES, Grader, Verdict, normalize_gold

_CHUNK = 5000  # records graded per Grader.grade call: bounds memory on big files, keeps the pool warm


@dataclass
class _Summary:
    count: int = 0
    correct: int = 0
    timeouts: int = 0
    errors: int = 0
    malformed: list[int] = field(default_factory=list)

    def as_dict(self, mode: str) -> dict[str, Any]:
        return {
            "count": self.count,
            "accuracy": round(100.0 * self.correct / self.count, 2) if self.count else None,
            "correct": self.correct,
            "timeouts": self.timeouts,
            "errors": self.errors,
            "malformed": len(self.malformed),
            "mode": mode,
            "grader": GRADER_VERSION,
        }


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m lemma.grade", description=__doc__.split("\n\n")[1])
    p.add_argument("input", type=Path, help="JSONL with 'prediction' and 'gold' per line")
    p.add_argument("-o", "--output", type=Path, default=None, help="output JSONL (default: stdout)")
    p.add_argument("--mode", choices=MODES, default="math_verify")
    p.add_argument("--dataset", default=None, help="normalise golds as this dataset gives them (see normalize_gold)")
    p.add_argument("--timeout", type=float, default=10.0, help="per-item wall-clock limit in seconds")
    p.add_argument("--workers", type=int, default=None, help="grader worker processes (default: CPUs, at most 8)")
    return p.parse_args(argv)


def _record(line: str, default_dataset: str | None) -> tuple[dict[str, Any], str, str]:
    """(record, prediction, canonical gold) for one line; ValueError with a reason when the line is malformed."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    pred, gold = rec.get("prediction"), rec.get("gold")
    if not isinstance(pred, str):
        raise ValueError("'prediction' missing or not a string")
    if gold is None or isinstance(gold, (dict, bool)):
        raise ValueError("'gold' missing or not a string/number/list")
    dataset = rec.get("dataset", default_dataset)
    if dataset is None:
        if not isinstance(gold, (str, int, float)):
            raise ValueError("'gold' is not a string or number (give a dataset to normalise it)")
        return rec, pred, str(gold).strip()
    if not isinstance(dataset, str):
        raise ValueError("'dataset' is not a string")
    return rec, pred, normalize_gold(gold, dataset)


def _chunks(lines: TextIO, dataset: str | None, summary: _Summary) -> Iterator[list[tuple[dict[str, Any], str, str]]]:
    chunk: list[tuple[dict[str, Any], str, str]] = []
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


def _output_record(rec: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    out = dict(rec)
    out["extracted"] = verdict.extracted
    out["correct"] = verdict.correct
    if verdict.timed_out:
        out["timed_out"] = True
    if verdict.error:
        out["grading_error"] = verdict.error
    return out


def grade_file(args: argparse.Namespace, out: TextIO) -> _Summary:
    summary = _Summary()
    with args.input.open(encoding="utf-8", errors="replace") as lines, Grader(
        mode=args.mode, timeout_s=args.timeout, workers=args.workers
    ) as grader:
        for chunk in _chunks(lines, args.dataset, summary):
            verdicts = grader.grade([p for _, p, _ in chunk], [g for _, _, g in chunk], extract=True)
            for (rec, _, _), verdict in zip(chunk, verdicts, strict=True):
                out.write(json.dumps(_output_record(rec, verdict), ensure_ascii=False) + "\n")
                summary.count += 1
                summary.correct += verdict.correct
                summary.timeouts += verdict.timed_out
                summary.errors += verdict.error is not None
    return summary


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
    print(json.dumps(summary.as_dict(args.mode)), file=sys.stderr)
    if summary.malformed:
        shown = ", ".join(map(str, summary.malformed[:20]))
        more = " ..." if len(summary.malformed) > 20 else ""
        print(f"lemma.grade: malformed lines: {shown}{more}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
