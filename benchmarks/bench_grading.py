"""Grading throughput on whole benchmark files, isolation on (``lemma.grading.Grader``, worker pool, per-item limit).

    python benchmarks/bench_grading.py                      # math500 and gsm8k
    python benchmarks/bench_grading.py math gsm8k --workers 4
    python benchmarks/bench_grading.py path/to/preds.jsonl  # records with 'prediction' (or 'text') and 'gold'

Three numbers per benchmark (aim: <= 5 ms/item on average, EVALUATION.md §6):

* ``end-to-end``: reference solutions (or "The answer is $gold$." where a benchmark has none) through extraction and
  grading, as a pipeline would send them. Identical answers and plain numbers are decided in the parent process.
* ``math-verify``: every gold against ``\\boxed{gold}`` as a bare answer, text that differs from the gold, so each item
  takes the worker path (IPC + Math-Verify parse/verify). The cost of an answer written in another form.
* ``sentence``: every gold stated in a sentence without an answer marker ("... the result is $gold$."), so that
  Math-Verify's own extraction reads the response in a worker. The cost of a response without a box.

Data: the project's ``data/benchmarks`` (or ``$LEMMA_DATA/benchmarks``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lemma
from lemma.grading import GRADER_VERSION, Grader, normalize_gold

Record = dict[str, Any]


@dataclass(frozen=True)
class _Bench:
    file: str
    prediction: Callable[[Record], str]
    gold: Callable[[Record], str]


def _phrase(gold: str) -> str:
    return f"Working omitted.\nThe answer is ${gold}$."


_BENCHES: dict[str, _Bench] = {
    "math": _Bench("math/test.jsonl", lambda r: r["solution"], lambda r: normalize_gold(r["solution"], "math")),
    "math500": _Bench("math500/test.jsonl", lambda r: r["solution"], lambda r: normalize_gold(r["answer"], "math500")),
    "gsm8k": _Bench(
        "gsm8k/test.jsonl",
        lambda r: r["answer"].replace("####", "The answer is:"),
        lambda r: normalize_gold(r["answer"], "gsm8k"),
    ),
    "minerva_math": _Bench(
        "minerva_math/test.jsonl", lambda r: r["solution"], lambda r: normalize_gold(r["solution"], "minerva_math")
    ),
    "svamp": _Bench(
        "svamp/test.jsonl",
        lambda r: _phrase(normalize_gold(r["Answer"], "svamp")),
        lambda r: normalize_gold(r["Answer"], "svamp"),
    ),
    "asdiv": _Bench(
        "asdiv/test.jsonl",
        lambda r: _phrase(normalize_gold(r["answer"], "asdiv")),
        lambda r: normalize_gold(r["answer"], "asdiv"),
    ),
    "college_math": _Bench(
        "college_math/test.jsonl",
        lambda r: _phrase(normalize_gold(r["answer"], "college_math")),
        lambda r: normalize_gold(r["answer"], "college_math"),
    ),
    "olympiadbench": _Bench(
        "olympiadbench/test.jsonl",
        lambda r: _phrase(normalize_gold(r["final_answer"], "olympiadbench")),
        lambda r: normalize_gold(r["final_answer"], "olympiadbench"),
    ),
}


def _data_root() -> Path:
    override = os.environ.get("LEMMA_DATA")
    root = Path(override) if override else Path(lemma.__file__).resolve().parents[1] / "data"
    return root / "benchmarks"


def _load(path: Path) -> list[Record]:
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _pairs(target: str) -> tuple[str, list[str], list[str]]:
    """(label, predictions, golds) for a benchmark name or a JSONL/JSON file of {prediction, gold} records."""
    if target in _BENCHES:
        bench = _BENCHES[target]
        rows = _load(_data_root() / bench.file)
        return target, [bench.prediction(r) for r in rows], [bench.gold(r) for r in rows]
    path = Path(target)
    if not path.is_file():
        raise SystemExit(f"bench_grading: {target!r} is neither a known benchmark ({', '.join(_BENCHES)}) nor a file")
    rows = _load(path)
    return path.name, [str(r.get("prediction", r.get("text"))) for r in rows], [str(r["gold"]) for r in rows]


def _run(grader: Grader, label: str, preds: list[str], golds: list[str], extract: bool) -> None:
    timeouts_before = grader.timeouts
    start = time.perf_counter()
    verdicts = grader.grade(preds, golds, extract=extract)
    elapsed = time.perf_counter() - start
    n = len(verdicts)
    accuracy = 100.0 * sum(v.correct for v in verdicts) / n
    print(
        f"{label:<28} {n:>6} items  {n / elapsed:>9.0f} items/s  {1000 * elapsed / n:>7.2f} ms/item"
        f"  accuracy {accuracy:6.2f}%  timeouts {grader.timeouts - timeouts_before}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("targets", nargs="*", default=["math500", "gsm8k"], help="benchmark names or files")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--mode", default="math_verify", choices=["math_verify", "qwen_compat"])
    args = p.parse_args(argv)

    with Grader(mode=args.mode, timeout_s=args.timeout, workers=args.workers) as grader:
        start = time.perf_counter()
        grader.grade(["x+1"] * grader.workers, ["1+x"] * grader.workers, extract=False)  # starts every worker
        started = time.perf_counter() - start
        print(f"{GRADER_VERSION}, mode {args.mode}, {grader.workers} workers, pool start {started:.2f} s")
        for target in args.targets:
            label, preds, golds = _pairs(target)
            _run(grader, f"{label} end-to-end", preds, golds, extract=True)
            boxed = ["\\boxed{" + g.rstrip(".") + "}" for g in golds]  # a sentence-final '.' is not part of the answer
            _run(grader, f"{label} math-verify", boxed, golds, extract=False)
            sentences = [f"Working omitted, so the result we were asked for is ${g.rstrip('.')}$." for g in golds]
            _run(grader, f"{label} sentence", sentences, golds, extract=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
