"""The offline symbolic teacher: the six LEMMA teacher jobs done by rule for a built-in world, with no model.

Why: the default experiment must run on a CPU with no network, yet every stage must do real work. The teacher knows
each problem's computation (`Problem.meta`, written by the world) and nothing else. Each world brings its rules:
- `relations` (the default, lemma.world.relations): relations_check reads lines, relations_revise writes them;
- `arith` (lemma.world.arith): arith_check and arith_revise.
Every job is seeded from sha256(teacher seed, problem id, job, draw), never from Python's salted hash(), so a rerun
writes the same data byte for byte.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

from lemma.records import Problem
from lemma.strategies import Strategy
from lemma.taxonomy import ErrorType
from lemma.teacher.base import (ClassifyRequest, Injection, InjectRequest, Label, LocateRequest, Location, Outcome,
                                ReviseRequest, Revision, SmoothRequest, TeacherUsage)
from lemma.teacher.symbolic import arith_check, arith_revise, relations_check, relations_revise
from lemma.teacher.symbolic.arith_check import check_solution, final_answer
from lemma.teacher.symbolic.arith_revise import FIX_PHRASES, FRESH_PHRASES

__all__ = ["FIX_PHRASES", "FRESH_PHRASES", "SymbolicTeacher", "check_solution", "final_answer", "WORLDS"]

R = TypeVar("R")
V = TypeVar("V")


@dataclass(frozen=True)
class Verdict:
    verdict: str  # correct | incorrect
    error_type: ErrorType | None
    step: int | None
    detail: str


@dataclass(frozen=True)
class WorldRules:
    """What the teacher needs from a world: read a solution, plant an error, revise, restart, smooth."""
    injectable: frozenset[ErrorType]
    state: Callable[[Problem], Any]  # the problem's computation from its meta (raises on a foreign problem)
    check: Callable[[Any, Problem, str], Verdict]
    inject: Callable[[Any, ErrorType, random.Random], Injection | None]
    # one rule per strategy: (state, problem, prefix cut after the wrong step, rng) -> the revision, None if the
    # prefix holds no error to fix
    revisers: dict[Strategy, Callable[[Any, Problem, str, random.Random], Revision | None]]
    smooth: Callable[[str, random.Random], str]
    so_far_right: Callable[[Any, str], bool] | None = None  # a partial solution has no error yet (None: use grader)


def _arith_gold(problem: Problem, comp: Any) -> Fraction:
    try:
        return Fraction(problem.gold.strip())
    except (ValueError, ZeroDivisionError, AttributeError):
        return Fraction(comp.answer)


def _arith_check(comp: Any, problem: Problem, text: str) -> Verdict:
    f = arith_check.check_solution(comp, text, _arith_gold(problem, comp), problem.dataset)
    return Verdict(f.verdict, f.error_type, f.step, "")


def _arith_state(problem: Problem) -> Any:
    from lemma.world.arith import Computation

    if not problem.meta.get("ops"):
        raise KeyError("ops")
    return Computation.from_meta(problem.meta)


def _relations_state(problem: Problem) -> Any:
    from lemma.world.relations import Graph

    return Graph.from_meta(problem.meta)


def _relations_check(graph: Any, problem: Problem, text: str) -> Verdict:
    f = relations_check.check_solution(graph, text)
    return Verdict(f.verdict, f.error_type, f.step, f.detail)


WORLDS: dict[str, WorldRules] = {
    "arith": WorldRules(
        injectable=frozenset(arith_revise.PLANNERS), state=_arith_state, check=_arith_check,
        inject=arith_revise.inject_error,
        revisers={
            Strategy.fix: lambda comp, p, prefix, rng: arith_revise.fix_continue(comp, prefix, _arith_gold(p, comp),
                                                                             p.dataset, rng),
            Strategy.fresh: lambda comp, p, prefix, rng: arith_revise.fresh_restart(comp, _arith_gold(p, comp), rng)},
        smooth=arith_revise.smooth_text),
    "relations": WorldRules(
        injectable=frozenset(relations_revise.PLANNERS), state=_relations_state, check=_relations_check,
        inject=relations_revise.inject_error,
        revisers={
            Strategy.fix: lambda graph, p, prefix, rng: relations_revise.fix_continue(graph, prefix, rng),
            Strategy.fresh: lambda graph, p, prefix, rng: relations_revise.fresh_restart(graph, rng)},
        smooth=lambda text, rng: text,  # the relations world trains every arm on unsmoothed text
        so_far_right=relations_check.lines_so_far_right),
}


def first_attempt_judge(world: str) -> Callable[[Problem, str], bool] | None:
    """For evaluation: whether the text before a first reflection is right so far, by the world's checker."""
    rules = WORLDS.get(world)
    if rules is None or rules.so_far_right is None:
        return None
    judge = rules.so_far_right
    return lambda problem, text: judge(rules.state(problem), text)


class SymbolicTeacher:
    """The `Teacher` of a built-in world: rule-based, deterministic, free; one request counted per job item."""

    name = "symbolic"
    model = "symbolic-v1"

    def __init__(self, seed: int = 0, world: str = "relations") -> None:
        if world not in WORLDS:
            raise ValueError(f"the symbolic teacher knows the worlds {', '.join(WORLDS)}, not {world!r}")
        self.seed, self.world = seed, world
        self.rules = WORLDS[world]
        self.usage = TeacherUsage()

    @property
    def injectable_types(self) -> frozenset[ErrorType]:
        return self.rules.injectable

    def classify(self, requests: list[ClassifyRequest]) -> list[Outcome[Label]]:
        def one(r: ClassifyRequest, state: Any) -> Outcome[Label]:
            v = self.rules.check(state, r.problem, r.solution)
            return Outcome(Label(v.verdict, v.error_type, v.step), raw=_describe(v))
        return self._run(requests, one)

    def locate(self, requests: list[LocateRequest]) -> list[Outcome[Location]]:
        def one(r: LocateRequest, state: Any) -> Outcome[Location]:
            v = self.rules.check(state, r.problem, r.solution)
            if v.verdict == "correct":
                return Outcome(Location("correct"), raw=_describe(v))
            if v.step is None:
                return Outcome(failure="invalid_step", raw=_describe(v))
            return Outcome(Location("incorrect", v.step), raw=_describe(v))
        return self._run(requests, one)

    def inject(self, requests: list[InjectRequest]) -> list[Outcome[Injection]]:
        def one(r: InjectRequest, state: Any) -> Outcome[Injection]:
            made = self.rules.inject(state, r.error_type, self._rng(r.problem, "inject", r.draw))
            return Outcome(made) if made else Outcome(failure="type_not_applicable", raw=str(r.error_type))
        return self._run(requests, one)

    def revise(self, strategy: Strategy, requests: list[ReviseRequest]) -> list[Outcome[Revision]]:
        """The world's rule for `strategy`. Fresh & Restart needs no model-aware `correct_solution`: the
        computation is known."""
        strategy = Strategy(strategy)
        rule = self.rules.revisers[strategy]

        def one(r: ReviseRequest, state: Any) -> Outcome[Revision]:
            made = rule(state, r.problem, r.prefix, self._rng(r.problem, str(strategy), _digest(r.prefix)))
            return Outcome(made) if made else Outcome(failure="no_error_found")
        return self._run(requests, one)

    def smooth(self, requests: list[SmoothRequest]) -> list[Outcome[str]]:
        def one(r: SmoothRequest, state: Any) -> Outcome[str]:
            return Outcome(self.rules.smooth(r.text, self._rng(r.problem, "smooth", _digest(r.text))))
        return self._run(requests, one, needs_state=False)

    def close(self) -> None:
        return None

    def _rng(self, problem: Problem, job: str, draw: int | str) -> random.Random:
        key = f"{self.seed}\x1f{problem.id}\x1f{job}\x1f{draw}".encode()
        return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))

    def _run(self, requests: list[R], one: Callable[[R, Any], Outcome[V]], needs_state: bool = True) -> list[Outcome[V]]:
        """One outcome per request; a problem without a computation or an unexpected error is a counted failure."""
        outcomes: list[Outcome[V]] = []
        for r in requests:
            self.usage.requests += 1
            problem: Problem = r.problem  # type: ignore[attr-defined]
            try:
                state = self.rules.state(problem) if needs_state else None
            except (KeyError, TypeError, ValueError, AttributeError):
                outcome: Outcome[V] = Outcome(failure="no_computation", raw=problem.id)
            else:
                try:
                    outcome = one(r, state)
                except Exception as exc:  # a rule bug must not lose the rest of the batch
                    outcome = Outcome(failure="internal_error", raw=f"{type(exc).__name__}: {exc}")
            if not outcome.ok:
                self.usage.failures += 1
                self.usage.failure_reasons[outcome.failure or "unknown"] += 1
            outcomes.append(outcome)
        return outcomes


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def _describe(v: Verdict) -> str:
    kind = v.error_type.value if v.error_type else "-"
    return f"{v.verdict} {kind} step={v.step}" + (f" {v.detail}" if v.detail else "")
