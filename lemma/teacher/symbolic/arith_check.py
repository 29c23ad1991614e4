"""Checking solutions of the `arith` world step by step: the classify and locate jobs of the symbolic teacher.

One checker serves classify, locate and Fix & Continue: it reads the solution's equations step by step (steps are
`lemma.steps.split_steps` spans; equations are parsed by regex, never evaluated as code) and compares them with the
computation. The verdict comes from the final answer alone; the first wrong step and its type come from the steps, so
a label never depends on how an error was made. Rules for the first step that is not a pending op, first match wins:
a false equation -> CA; both operands of a pending op under another operator -> OP; the operator and one operand of
a pending op right, the other wrong, read in this order of preference: it stands for the result of an op never
computed and equals one of that op's operands -> MS; it stands for a question number -> CV (CO when the question
wrote the number as words, "a dozen"); it stands for an op never computed -> MS, one computed before -> CS. A wrong
answer line under right equations -> QM (it reports an intermediate quantity or stops early) or CS (the last op was
done and the answer is a number found nowhere). No equation at all -> NO, and a text that stops or loops without an
answer -> NO at the first step after the last progress. A true equation matching no op ("loose") may be another
valid method, so it is tolerated; if the answer is wrong and nothing else is found, the first loose step is the
error: NO when it uses numbers from nowhere (when unsure, NO), else QM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from lemma.steps import split_steps
from lemma.taxonomy import ErrorType
from lemma.world.arith import Computation, Op

_NUM = r"\d+(?:\.\d+)?"
EQUATION = re.compile(rf"(?<![\d.])({_NUM})\s*([-+*/x×÷−·])\s*({_NUM})\s*=\s*\$?\s*(-?{_NUM})", re.ASCII)
ANSWER = re.compile(rf"answer is:?\s*\$?\s*(-?{_NUM})", re.IGNORECASE | re.ASCII)
_SYMBOLS = {"x": "*", "×": "*", "·": "*", "÷": "/", "−": "-"}


# --------------------------------------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class Eq:
    a: Fraction
    op: str
    b: Fraction
    c: Fraction

    def value(self) -> Fraction | None:
        a, b = self.a, self.b
        return {"+": a + b, "-": a - b, "*": a * b}.get(self.op, a / b if self.op == "/" and b else None)


def _equations(text: str) -> list[Eq]:
    """Every "a op b = c" in text, chained ones too ("2 * 3 = 6 * 2 = 12")."""
    found, pos = [], 0
    while (m := EQUATION.search(text, pos)) is not None:
        found.append(Eq(Fraction(m[1]), _SYMBOLS.get(m[2], m[2]), Fraction(m[3]), Fraction(m[4])))
        pos = m.start(4)
    return found


def final_answer(text: str) -> Fraction | None:
    """The number after the last "The answer is"."""
    found = ANSWER.findall(text)
    return Fraction(found[-1]) if found else None


def _n(x: Fraction | int) -> str:
    return str(int(x)) if Fraction(x).denominator == 1 else str(float(x))


# --------------------------------------------------------------------------------------------------------- checking
@dataclass(frozen=True)
class Finding:
    """The first wrong step of a solution and what it got wrong, as far as the checker can tell."""
    verdict: str  # correct | incorrect
    error_type: ErrorType | None = None
    step: int | None = None  # 1-based span index, lemma.steps numbering
    op: int | None = None  # the op the wrong step was computing
    skipped: int | None = None  # MS: the op never computed
    done: frozenset[int] = frozenset()  # ops computed right before the wrong step
    wrong: Eq | None = None  # the wrong equation (None when the answer line or the whole text is wrong)
    bad: Fraction | None = None  # the wrong value (result, operand or answer)
    good: Fraction | None = None  # what it should have been


class _Checker:
    """Walks a solution's steps, keeping which ops are done and which values are known."""

    def __init__(self, comp: Computation) -> None:
        self.comp = comp
        self.done: set[int] = set()
        self.known = {Fraction(q.value) for q in comp.quantities}
        self.loose: set[Fraction] = set()
        self.first_loose: Finding | None = None
        self.progress = 0  # the last step that completed a new op

    def finding(self, etype: ErrorType, step: int, **kw: object) -> Finding:
        return Finding("incorrect", etype, step, done=frozenset(self.done), **kw)  # type: ignore[arg-type]

    def equation(self, step: int, eq: Eq) -> Finding | None:
        ops = self.comp.ops
        pending = [i for i in range(1, len(ops) + 1) if i not in self.done]
        for i in pending:
            if _same(eq, ops[i - 1]):
                if eq.value() != eq.c:
                    return self.finding(ErrorType.CA, step, op=i, wrong=eq, bad=eq.c, good=Fraction(ops[i - 1].result))
                self.done.add(i)
                self.known.add(eq.c)
                self.progress = step
                return None
        if eq.value() != eq.c:
            return self.finding(ErrorType.CA, step, wrong=eq, bad=eq.c, good=eq.value())
        if any(_same(eq, ops[i - 1]) for i in self.done):
            return None  # a repeated step
        return self._near_miss(step, eq, pending)

    def _near_miss(self, step: int, eq: Eq, pending: list[int]) -> Finding | None:
        """A true equation that is no pending op: read it as one op with one thing wrong, or tolerate it."""
        readings: list[tuple[int, int, int, Fraction]] = []  # (rank, op, side, value used instead)
        for i in pending:
            op = self.comp.ops[i - 1]
            if eq.op != op.op and sorted((eq.a, eq.b)) == sorted((op.a, op.b)):
                return self.finding(ErrorType.OP, step, op=i, wrong=eq, bad=eq.c, good=Fraction(op.result))
            readings += [(self._rank(op.sources[side], value), i, side, value) for side, value in _one_off(eq, op)]
        if not readings:
            return self._tolerate(step, eq)
        _, i, side, value = min(readings, key=lambda r: (r[0], r[1]))
        if value in self.loose:
            return self._tolerate(step, eq)
        op = self.comp.ops[i - 1]
        src, kw = op.sources[side], {"op": i, "wrong": eq, "bad": value, "good": Fraction((op.a, op.b)[side])}
        if src.startswith("q:"):
            quantity = self.comp.quantity(src)
            return self.finding(ErrorType.CO if quantity and quantity.word else ErrorType.CV, step, **kw)
        j = int(src[2:])
        if j in self.done:
            return self.finding(ErrorType.CS, step, **kw)
        return self.finding(ErrorType.MS, step, skipped=j, **kw)

    def _rank(self, src: str, value: Fraction) -> int:
        """Which reading of a one-off equation wins: a skipped op's operand used in its place, then a question number
        copied wrong, then the rest."""
        if src.startswith("s:") and int(src[2:]) not in self.done:
            skipped = self.comp.ops[int(src[2:]) - 1]
            return 0 if value in (skipped.a, skipped.b) else 2
        return 1 if src.startswith("q:") else 2

    def _tolerate(self, step: int, eq: Eq) -> None:
        if self.first_loose is None:
            unknown = {eq.a, eq.b} - self.known - self.loose
            self.first_loose = self.finding(ErrorType.NO if unknown else ErrorType.QM, step, wrong=eq,
                                            bad=eq.c, good=None)
        self.loose.add(eq.c)
        return None

    def answer(self, step: int, value: Fraction, gold: Fraction) -> Finding | None:
        if value == gold:
            return None
        if self.first_loose is not None:
            return self.first_loose
        last = len(self.comp.ops)
        etype = ErrorType.QM if last not in self.done or value in self.known else ErrorType.CS
        return self.finding(etype, step, bad=value, good=gold)

    def unfinished(self, n_steps: int) -> Finding:
        """No wrong step and no answer: the text stops or loops. NO at the first step after the last progress."""
        if self.first_loose is not None:
            return self.first_loose
        step = self.progress + 1 if self.progress < n_steps else None
        return Finding("incorrect", ErrorType.NO, step, done=frozenset(self.done))


def _same(eq: Eq, op: Op) -> bool:
    a, b, symbol = op.a, op.b, op.op
    return eq.op == symbol and ((eq.a, eq.b) == (a, b) or (symbol in "+*" and (eq.b, eq.a) == (a, b)))


def _one_off(eq: Eq, op: Op) -> list[tuple[int, Fraction]]:
    """(side of `op`, value used instead) for readings of `eq` as `op` with exactly one operand wrong."""
    a, b, symbol = op.a, op.b, op.op
    if eq.op != symbol:
        return []
    out: list[tuple[int, Fraction]] = []
    if eq.a == a and eq.b != b:
        out.append((1, eq.b))
    if eq.b == b and eq.a != a:
        out.append((0, eq.a))
    if symbol in "+*" and not out:
        if eq.a == b and eq.b != a:
            out.append((0, eq.b))
        if eq.b == a and eq.a != b:
            out.append((1, eq.a))
    return out


def check_solution(comp: Computation, text: str, gold: Fraction, dataset: str = "arith") -> Finding:
    """The verdict (by the final answer) and the first wrong step (by the equations) of one solution."""
    if final_answer(text) == gold:
        return Finding("correct")
    spans = split_steps(text, dataset)
    steps = [text[s.start:s.end] for s in spans]
    parsed = [_equations(s) for s in steps]
    if not any(parsed):
        return Finding("incorrect", ErrorType.NO, 1 if spans else None)
    checker = _Checker(comp)
    for index, (step, eqs) in enumerate(zip(steps, parsed), start=1):
        answer = ANSWER.search(step)
        found = (checker.answer(index, Fraction(answer[1]), gold) if answer
                 else next((f for eq in eqs if (f := checker.equation(index, eq)) is not None), None))
        if found is not None:
            return found
    return checker.unfinished(len(steps))
