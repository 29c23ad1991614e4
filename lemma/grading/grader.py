"""The public ``Grader``: extraction in the parent, exact numbers in the parent, Math-Verify in isolated workers.

Why this split: a pipeline grades thousands of short numeric answers per stage, which the parent decides in
microseconds without starting a process, while anything that reaches sympy needs a killable process with a hard time
limit (hang inputs, EVALUATION.md §3.2, §6.5). A timeout scores False and is counted in ``Grader.timeouts``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from lemma.grading.extraction import (Answer, bare_gold, clean_answer, extract, extract_answer, gold_answer,
                                      is_plain_text)
from lemma.grading.numbers import parent_rule_readings
from lemma.grading.pool import Task, WorkerPool
from lemma.grading.qwen import qwen_extract, qwen_fast_verdict

__all__ = ["GRADER_VERSION", "MODES", "Grader", "Verdict", "check_mode"]


def _math_verify_version() -> str:
    try:
        return metadata.version("math-verify")
    except metadata.PackageNotFoundError:  # pragma: no cover - the pin makes this unreachable in practice
        return "unknown"


# Hashed into evaluate keys: bump the number whenever a verdict can change.
GRADER_VERSION: str = f"lemma-grader/2 math-verify=={_math_verify_version()}"
MODES: tuple[str, ...] = ("math_verify", "qwen_compat")


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown grading mode {mode!r}; expected one of {MODES}")


@dataclass(frozen=True)
class Verdict:
    """One graded item. ``timed_out`` and ``error`` both score False; kept apart so that runs can report them.

    ``truncated``: the response was cut off before any answer marker (scored False by the primary grader; qwen_compat
    grades its last number, as the paper did). ``rule``: the lemma rule that decided the verdict where it departs from
    plain Math-Verify ("exact numbers", "percent as unit"), None when Math-Verify or identical text decided.
    """

    extracted: str | None
    correct: bool
    timed_out: bool = False
    error: str | None = None
    truncated: bool = False
    rule: str | None = None


@dataclass(frozen=True)
class _Result:
    correct: bool
    extracted: str | None
    status: str = "ok"
    error: str | None = None
    rule: str | None = None


def _text(prediction: Any) -> str | None:
    if prediction is None or isinstance(prediction, str):
        return prediction
    return str(getattr(prediction, "text", prediction))


def _flag(prediction: Any) -> bool | None:
    flag = getattr(prediction, "truncated", None) if not isinstance(prediction, str) else None
    return None if flag is None else bool(flag)


def _default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


class Grader:
    """Grades (prediction_text, gold) pairs; Math-Verify runs in worker processes with a hard per-item limit.

    Context manager; cheap to construct: the pool starts on the first item the parent cannot decide, so an all-numeric
    batch never starts a process, and it grows to ``workers`` only as batches need. Not thread-safe.
    """

    _GRACE_S = 1.0

    def __init__(self, mode: str = "math_verify", timeout_s: float = 10.0, workers: int | None = None) -> None:
        check_mode(mode)
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.mode = mode
        self.timeout_s = float(timeout_s)
        self.workers = workers if workers is not None else _default_workers()
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        self.timeouts = 0
        self.errors = 0
        self._pool: WorkerPool | None = None

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def close(self) -> None:
        """Stop the workers (a later call to grade() starts a fresh pool)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()

    def extract(self, text: str) -> str | None:
        """The extraction this grader's mode uses (last answer wins by default, Qwen's order in qwen_compat)."""
        return qwen_extract(text) if self.mode == "qwen_compat" else extract_answer(text)

    def grade(self, predictions: Sequence[Any], golds: Sequence[str | None], *, extract: bool = True,
              truncated: Sequence[bool | None] | None = None) -> list[Verdict]:
        """extract=True: predictions are full responses (the mode's extraction applies); False: bare answers.

        predictions: texts, or generations (objects with ``.text`` and ``.truncated``, which then need no ``truncated``
        list and keep their flag through any chunking a wrapper does). golds: canonical gold strings
        (``normalize_gold``), or whole solutions (their final answer is used). truncated: per response, whether
        generation hit its token limit (None: unknown, judged from the text).
        """
        if len(predictions) != len(golds):
            raise ValueError(f"{len(predictions)} predictions but {len(golds)} golds")
        flags: Sequence[bool | None] = [_flag(p) for p in predictions] if truncated is None else truncated
        if len(flags) != len(predictions):
            raise ValueError(f"{len(predictions)} predictions but {len(flags)} truncated flags")
        answers = [self._answer(_text(p), extract, t) for p, t in zip(predictions, flags, strict=True)]
        results = self._compare(answers, [self._gold(g) for g in golds])
        return [
            Verdict(extracted=r.extracted, correct=r.correct, timed_out=r.status == "timeout", error=r.error,
                    truncated=a.truncated, rule=r.rule)
            for a, r in zip(answers, results, strict=True)
        ]

    def equal_answers(self, a: Sequence[str | None], b: Sequence[str | None]) -> list[bool]:
        """Pairwise equivalence of bare answers (majority-vote clustering, "did the answer change"); ``b`` is gold."""
        if len(a) != len(b):
            raise ValueError(f"{len(a)} vs {len(b)} answers")
        as_answers = [[Answer(x, plain=x is not None and is_plain_text(x)) for x in side] for side in (a, b)]
        return [r.correct for r in self._compare(*as_answers)]

    def run(self, tasks: Sequence[Task]) -> list[tuple[str, Any]]:
        """Run worker tasks (``lemma.grading.pool.run_task``) under this grader's time limits."""
        if not tasks:
            return []
        if self._pool is None:
            self._pool = WorkerPool(self.timeout_s, self.timeout_s + self._GRACE_S)
        self._pool.grow(min(self.workers, len(tasks)))  # a 1-item call does not pay for 8 start-ups
        return self._pool.run(tasks)

    def _answer(self, prediction: str | None, extract_it: bool, truncated: bool | None) -> Answer:
        if prediction is None:
            return Answer(None)
        text = str(prediction)
        if not extract_it:
            return Answer(clean_answer(text), plain=is_plain_text(text))
        found = extract(text, truncated)
        if self.mode == "qwen_compat":  # the paper's order; a cut-off response keeps its last number (flagged)
            return Answer(qwen_extract(text), truncated=found.truncated)
        return found

    def _gold(self, gold: str | None) -> Answer:
        if self.mode == "qwen_compat":
            return Answer(bare_gold(gold))
        return gold_answer(gold)

    def _compare(self, preds: Sequence[Answer], golds: Sequence[Answer]) -> list[_Result]:
        """One result per pair: decided in the parent when cheap, in the pool otherwise."""
        out: list[_Result | None] = [None] * len(preds)
        todo: list[int] = []
        for i, (p, g) in enumerate(zip(preds, golds, strict=True)):
            out[i] = self._decide_here(p, g)
            if out[i] is None:
                todo.append(i)
        tasks = [("grade", self.mode, preds[i].wire(), golds[i].wire()) for i in todo]
        for i, (status, value) in zip(todo, self.run(tasks), strict=True):
            out[i] = self._settle(status, value, preds[i])
        return [r for r in out if r is not None]

    def _decide_here(self, pred: Answer, gold: Answer) -> _Result | None:
        if not pred.text or not pred.text.strip() or not gold.text or not gold.text.strip():
            return _Result(False, None if pred.span else pred.text)
        if pred.span or gold.span:
            return None
        if self.mode == "qwen_compat":
            fast = qwen_fast_verdict(pred.text, gold.text)
            return None if fast is None else _Result(fast, pred.text)
        decided = parent_rule_readings(pred.text, pred.plain, gold.text, gold.plain)
        return None if decided is None else _Result(decided[0], pred.text, rule=decided[1])

    def _settle(self, status: str, value: Any, pred: Answer) -> _Result:
        shown = None if pred.span else pred.text
        if status == "ok":
            correct, extracted, rule = value
            return _Result(bool(correct), extracted, rule=rule)
        if status == "timeout":
            self.timeouts += 1
            return _Result(False, shown, "timeout")
        self.errors += 1
        return _Result(False, shown, "error", str(value))
