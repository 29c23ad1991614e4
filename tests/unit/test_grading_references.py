"""Reference solutions must grade as correct: extraction + grading on MATH (5,000), MATH500 and GSM8K test >= 99.9%.

A reference solution is a correct answer written in the benchmark's own style, so every miss is a grader bug (an
extraction miss or a false negative). Data: the files the project ships under ``data/benchmarks``.
Per-item times are printed (run with ``-s`` to see them) and attached to the test report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from lemma.config import DATA_ROOT
from lemma.grading import Grader, Verdict, normalize_gold

MIN_ACCURACY = 0.999


def _benchmark(name: str) -> list[dict[str, object]]:
    path = DATA_ROOT / "benchmarks" / name / "test.jsonl"
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def grader() -> Iterator[Grader]:
    with Grader(timeout_s=10, workers=2) as g:
        g.grade(["x+1", "x+2"], ["1+x", "2+x"], extract=False)  # start both workers outside the timed runs
        yield g


def _grade(
    grader: Grader, name: str, preds: list[str], golds: list[str], record_property: object
) -> list[Verdict]:
    start = time.perf_counter()
    verdicts = grader.grade(preds, golds)
    elapsed = time.perf_counter() - start
    ms = 1000 * elapsed / len(preds)
    accuracy = sum(v.correct for v in verdicts) / len(verdicts)
    print(f"\n{name}: {len(preds)} items, accuracy {accuracy:.4%}, {elapsed:.1f} s, {ms:.2f} ms/item (2 workers)")
    record_property(f"{name}_ms_per_item", round(ms, 3))  # type: ignore[operator]
    record_property(f"{name}_accuracy", accuracy)  # type: ignore[operator]
    return verdicts


def _assert_accuracy(verdicts: list[Verdict], golds: list[str]) -> None:
    misses = [(v.extracted, g, v.timed_out, v.error) for v, g in zip(verdicts, golds, strict=True) if not v.correct]
    accuracy = 1 - len(misses) / len(verdicts)
    assert accuracy >= MIN_ACCURACY, f"accuracy {accuracy:.4%}; misses (extracted, gold, timeout, error): {misses[:20]}"


@pytest.mark.slow
def test_math_reference_solutions(grader: Grader, record_property: object) -> None:
    rows = _benchmark("math")
    assert len(rows) == 5000
    preds = [str(r["solution"]) for r in rows]
    golds = [normalize_gold(r["solution"], "math") for r in rows]  # type: ignore[arg-type]
    _assert_accuracy(_grade(grader, "MATH", preds, golds, record_property), golds)


def test_math500_reference_solutions(grader: Grader, record_property: object) -> None:
    rows = _benchmark("math500")
    assert len(rows) == 500
    preds = [str(r["solution"]) for r in rows]
    golds = [normalize_gold(r["answer"], "math500") for r in rows]  # type: ignore[arg-type]
    _assert_accuracy(_grade(grader, "MATH500", preds, golds, record_property), golds)


def test_gsm8k_reference_solutions(grader: Grader, record_property: object) -> None:
    rows = _benchmark("gsm8k")
    assert len(rows) == 1319
    preds = [str(r["answer"]).replace("####", "The answer is:") for r in rows]
    golds = [normalize_gold(r["answer"], "gsm8k") for r in rows]  # type: ignore[arg-type]
    _assert_accuracy(_grade(grader, "GSM8K", preds, golds, record_property), golds)


def _through_math_verify(golds: list[str]) -> list[str]:
    """``\\boxed{gold}`` as a bare answer: the same answer as different text, so the parent's identical-text shortcut
    cannot decide it and every gold must parse and verify against itself in Math-Verify (Math-Verify#70 would show)."""
    return ["\\boxed{" + g + "}" for g in golds]


@pytest.mark.slow
def test_math_golds_verify_against_themselves(grader: Grader, record_property: object) -> None:
    rows = _benchmark("math")
    golds = [normalize_gold(r["solution"], "math") for r in rows]  # type: ignore[arg-type]
    preds = _through_math_verify(golds)
    start = time.perf_counter()
    verdicts = grader.grade(preds, golds, extract=False)
    ms = 1000 * (time.perf_counter() - start) / len(preds)
    print(f"\nMATH golds via Math-Verify: {ms:.2f} ms/item (2 workers)")
    record_property("MATH_math_verify_ms_per_item", round(ms, 3))  # type: ignore[operator]
    _assert_accuracy(verdicts, golds)


def test_math500_answers_in_other_forms(grader: Grader) -> None:
    """MATH500 answers through Math-Verify, and boxed answers rewritten as "The answer is $X$." (phrase extraction)."""
    rows = _benchmark("math500")
    golds = [normalize_gold(r["answer"], "math500") for r in rows]  # type: ignore[arg-type]
    _assert_accuracy(grader.grade(_through_math_verify(golds), golds, extract=False), golds)
    phrased = [f"{r['problem']}\nSo we are done.\nThe answer is ${g}$." for r, g in zip(rows, golds, strict=True)]
    _assert_accuracy(grader.grade(phrased, golds), golds)
