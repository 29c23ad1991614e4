"""The built-in arith world: seeded, GSM8K-style multi-step arithmetic word problems for a tiny model.

Why a world of our own: `python run.py` must be a real LEMMA experiment on a small CPU with no network, so the problems
must be easy enough for a tiny model and their computations known exactly, so that a symbolic teacher can check steps,
inject typed errors and write revisions by rule (lemma.teacher.symbolic).

Design
- A problem is a `Computation`: named question quantities (a few written as words, "a dozen", "a week": a miscount of
  those is a counting error) and ordered ops `{a, b, op, result, a_src, b_src}`, where a source is "q:<quantity>" or
  "s:<i>" (the result of op i, 1-based). It is stored in `Problem.meta` as JSON, with each op's sentence template.
- A story is drawn by a small machine: an opening (0-1 ops), running events on the current count (1 op each) and an
  optional closing event that asks the question (1-2 ops). Every intermediate is an integer from 2 to 999 and division
  is exact. A result feeds one later op, except in "together" stories, where a person's count feeds two.
- The reference has one line per op, each a single sentence holding exactly one "a op b = c" (ASCII + - * /), then the
  line "The answer is: N". `lemma.steps.split_steps` gives one span per line, so step i is op i and the answer line is
  step len(ops) + 1: it counts as a step, and a wrong final answer under right equations is located there.
- `evaluate` recomputes the ops under a `Change` (a wrong result, operator or operand, a skipped op, an early stop), so
  an injected error is carried through every later step.

The computation lives in lemma.world.arith_computation and the story machine in lemma.world.arith_stories; this
module draws splits and re-exports the computation, so callers import the world from one place.
"""

from __future__ import annotations

import hashlib
import random

from lemma.records import Problem
from lemma.world.arith_computation import (ANSWER_PREFIX, MAX_VALUE, Change, Computation, Equation, Op, Quantity,
                                           apply_op, evaluate, render, step_line)
from lemma.world.arith_stories import draw_story

__all__ = ["ANSWER_PREFIX", "MAX_VALUE", "Change", "Computation", "Equation", "Op", "Quantity", "apply_op", "evaluate",
           "generate_split", "make_world", "render", "step_line", "world_texts"]


def _split_seed(seed: int, split: str) -> int:
    """A per-split seed from a stable hash (never Python's salted hash())."""
    return int.from_bytes(hashlib.sha256(f"arith|{seed}|{split}".encode()).digest()[:8], "big")


def generate_split(n: int, *, seed: int, min_ops: int, max_ops: int, max_number: int, split: str,
                   exclude: frozenset[str] = frozenset()) -> list[Problem]:
    """`n` problems with distinct questions (none in `exclude`), ids "arith-<split>-00000"..., deterministic."""
    if not 1 <= min_ops <= max_ops:
        raise ValueError(f"need 1 <= min_ops <= max_ops, got {min_ops}, {max_ops}")
    if max_number < 5:
        raise ValueError(f"max_number must be at least 5 for the stories to fit, got {max_number}")
    rng = random.Random(_split_seed(seed, split))
    seen, problems = set(exclude), []
    for _ in range(100 * n + 1000):
        if len(problems) == n:
            break
        story = draw_story(rng, rng.randint(min_ops, max_ops), max_number)
        problem = story.problem(f"arith-{split}-{len(problems):05d}")
        if problem.question not in seen:
            seen.add(problem.question)
            problems.append(problem)
    if len(problems) < n:
        raise RuntimeError(f"only {len(problems)} distinct {split} questions could be drawn, {n} asked")
    return problems


def make_world(num_train: int, num_test: int, *, seed: int, min_ops: int = 2, max_ops: int = 3,
               max_number: int = 20) -> tuple[list[Problem], list[Problem]]:
    """(train, test), disjoint by question text: test is drawn first and train skips its questions."""
    test = generate_split(num_test, seed=seed, min_ops=min_ops, max_ops=max_ops, max_number=max_number, split="test")
    train = generate_split(num_train, seed=seed, min_ops=min_ops, max_ops=max_ops, max_number=max_number,
                           split="train", exclude=frozenset(p.question for p in test))
    return train, test


def world_texts(problems: list[Problem]) -> list[str]:
    """Questions and references, for training the tiny model's tokenizer."""
    return [text for p in problems for text in (p.question, p.reference)]
