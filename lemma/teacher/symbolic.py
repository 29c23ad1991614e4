"""The offline symbolic teacher of the arith world: the six LEMMA teacher jobs done by rule, with no model.

Why: the default experiment must run on a CPU with no network, yet every stage must do real work. The teacher knows
each problem's computation (`Problem.meta`, lemma.world.arith) and nothing else.

Design
- One checker serves classify, locate and Fix & Continue: it reads the solution's equations step by step (steps are
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
- Injection rewrites the computation (`lemma.world.arith.Change`) and recomputes every later op, so the flawed text is
  consistent and ends with a wrong answer. Step and variant are drawn by a seed from sha256(seed, problem id, job,
  draw); never from Python's salted hash().
- Fix & Continue restates the fix of the first wrong step found by the checker and continues from the computation.
  Fresh & Restart solves again as one expression reduced step by step, or by naming each quantity in another order
  and phrasing. Smoothing adds connectives at line starts (and an opening line), so equations and the answer line
  stay byte-identical.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

from lemma.records import Problem
from lemma.steps import split_steps
from lemma.taxonomy import ErrorType
from lemma.teacher.base import (ClassifyRequest, Injection, InjectRequest, Label, LocateRequest, Location, Outcome,
                                ReviseRequest, Revision, SmoothRequest, TeacherUsage)
from lemma.world.arith import ANSWER_PREFIX, Change, Computation, Equation, Op, evaluate, render, step_line

R = TypeVar("R")
V = TypeVar("V")
_NUM = r"\d+(?:\.\d+)?"
EQUATION = re.compile(rf"(?<![\d.])({_NUM})\s*([-+*/x×÷−·])\s*({_NUM})\s*=\s*\$?\s*(-?{_NUM})", re.ASCII)
ANSWER = re.compile(rf"answer is:?\s*\$?\s*(-?{_NUM})", re.IGNORECASE | re.ASCII)
_SYMBOLS = {"x": "*", "×": "*", "·": "*", "÷": "/", "−": "-"}
_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}
_MISCOUNTS = {"a dozen": ((10, 6), "A dozen is {good}, not {bad}."),
              "a week": ((5, 6), "A week has {good} days, not {bad}."),
              "the weekend": ((3, 1), "The weekend has {good} days, not {bad}.")}
FIX_PHRASES = ("Wait, let me check that step again.", "Hmm, I want to verify that last step.",
               "Hold on, something is off in that step.", "Wait a second, that does not look right.",
               "Let me double-check this calculation.", "Hmm, let me look at that step more carefully.",
               "Actually, I think I made a mistake there.", "Wait, I should recheck my work here.",
               "Let me pause and verify the numbers so far.", "Oops, that step needs another look.")
FRESH_PHRASES = ("Let me try a different approach.",
                 "Hmm, this is getting confusing, so let me start over another way.",
                 "Wait, let me solve this again with a different method.",
                 "Let me step back and set this up differently.",
                 "Actually, a cleaner way is to redo the whole problem.",
                 "Hold on, let me rethink the problem from the start.",
                 "Let me approach the problem from another angle.", "Hmm, I will start again with a fresh plan.",
                 "Wait, a different method will be easier to check.")
_OPENINGS = ("Let's work through this step by step.", "Let's solve this one step at a time.",
             "Let's break the problem into small steps.")
_FIRST = ("First, ", "To start, ", "First of all, ")
_MIDDLE = ("Next, ", "Then ", "After that, ")
_LAST = ("Finally, ", "So ")
_LOWER = {"He", "She", "They", "The", "Each", "Over", "In", "To", "For", "It", "Now", "Together", "That"}
_CONNECTED = ("First", "Next", "Then", "Finally", "So ", "After", "To start", "Let", "Now")


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


# -------------------------------------------------------------------------------------------------------- injection
@dataclass(frozen=True)
class _Plan:
    change: Change
    step: int  # where the error sits in the flawed text (lemma.steps numbering)
    focus: int  # the op whose equation shows the error; 0 when the answer line does (QM)
    why: str


def _ca_plans(comp: Computation) -> list[_Plan]:
    plans = []
    for i, op in enumerate(comp.ops, start=1):
        flipped = int(str(op.result)[::-1]) if op.result >= 10 else op.result
        for wrong in sorted({op.result + d for d in (1, -1, 2, -2, 10, -10)} | {flipped}):
            if wrong >= 0 and wrong != op.result:
                why = f"Step {i} works out {op.a} {op.op} {op.b} as {wrong} instead of {op.result}."
                plans.append(_Plan(Change(results={i: wrong}), i, i, why))
    return plans


def _op_plans(comp: Computation) -> list[_Plan]:
    return [_Plan(Change(operators={i: sym}), i, i, f"Step {i} uses {sym} instead of {op.op} on {op.a} and {op.b}.")
            for i, op in enumerate(comp.ops, start=1) for sym in "+-*/" if sym != op.op]


def _value_plans(comp: Computation, counting: bool) -> list[_Plan]:
    """CV: a question number copied wrong (never one written as words); CO: a word count miscounted."""
    plans, taken = [], comp.values()
    for i, op in enumerate(comp.ops, start=1):
        for side, src in enumerate(op.sources):
            q = comp.quantity(src)
            if q is None or (q.word is not None) != counting:
                continue
            if counting:
                bads = _MISCOUNTS.get(q.word or "", ((),))[0]
                why = "Step {i} counts {w} as {bad} instead of {v}."
            else:
                near = {q.value + d for d in (-3, -2, -1, 1, 2, 3, 10)} | {int(str(q.value)[::-1])}
                bads = tuple(sorted(v for v in near if v > 0 and v not in taken))
                why = "Step {i} copies {v} from the question as {bad}."
            plans += [_Plan(Change(operands={(i, side): bad}), i, i, why.format(i=i, w=q.word, bad=bad, v=q.value))
                      for bad in bads]
    return plans


def _ms_plans(comp: Computation) -> list[_Plan]:
    plans = []
    for j, op in enumerate(comp.ops[:-1], start=1):
        user = comp.user_of(j)
        if user is None:
            continue
        m, side = user
        for used in sorted({op.a, op.b} - {op.result}):
            why = f"The solution never works out {op.what} and uses {used} in its place."
            plans.append(_Plan(Change(operands={(m, side): used}, skip=j), m - 1, m, why))
    return plans


def _qm_plans(comp: Computation) -> list[_Plan]:
    asked = comp.ops[-1].what
    return [_Plan(Change(stop=j), j + 1, 0, f"The solution stops at {op.what} and reports it, but the question asks "
                  f"for {asked}.") for j, op in enumerate(comp.ops[:-1], start=1)]


_PLANNERS: dict[ErrorType, Callable[[Computation], list[_Plan]]] = {
    ErrorType.CA: _ca_plans, ErrorType.OP: _op_plans, ErrorType.CV: lambda c: _value_plans(c, counting=False),
    ErrorType.CO: lambda c: _value_plans(c, counting=True), ErrorType.MS: _ms_plans, ErrorType.QM: _qm_plans}


def _realise(comp: Computation, plan: _Plan) -> str | None:
    """The flawed text of a plan, or None when it goes invalid, keeps the gold answer or reads as another error."""
    written = evaluate(comp, plan.change)
    if not written or written[-1][1].c == comp.answer:
        return None
    eq = dict(written).get(plan.focus)
    if eq is not None and any(sorted((eq.a, eq.b)) == sorted((o.a, o.b))
                              for i, o in enumerate(comp.ops, start=1) if i != plan.focus):
        return None  # the wrong step would equal another op's operands: it would not read as the intended error
    return render(comp, written, written[-1][1].c)


def inject_error(comp: Computation, etype: ErrorType, rng: random.Random) -> Injection | None:
    """A flawed solution with an error of `etype` carried through, or None when the type does not apply."""
    by_step: dict[int, list[tuple[_Plan, str]]] = {}
    for plan in _PLANNERS[etype](comp) if etype in _PLANNERS else []:
        if (text := _realise(comp, plan)) is not None:
            by_step.setdefault(plan.step, []).append((plan, text))
    if not by_step:
        return None
    plan, text = rng.choice(by_step[rng.choice(sorted(by_step))])
    return Injection(text=text, explanation=plan.why, intended_step=plan.step)


# -------------------------------------------------------------------------------------------------------- revisions
def _explain(f: Finding, comp: Computation) -> tuple[str, str]:
    """(specific reflection phrase, one sentence pointing out the error) for a finding."""
    w, t, asked = f.wrong, f.error_type, comp.ops[-1].what
    bad, good = _n(f.bad) if f.bad is not None else "", _n(f.good) if f.good is not None else ""
    if t is ErrorType.CA and w is not None:
        calc = f"{_n(w.a)} {w.op} {_n(w.b)}"
        return f"Hmm, {calc} is not {_n(w.c)}.", f"{calc} is {_n(w.value() or 0)}, not {_n(w.c)}."
    if t is ErrorType.OP and w is not None and f.op:
        verb = _VERBS[comp.ops[f.op - 1].op]
        return "Wait, that step uses the wrong operation.", f"I should {verb} here, not {_VERBS.get(w.op, w.op)}."
    if t is ErrorType.CV:
        return f"Wait, the question does not say {bad}.", f"The question gives {good}, not {bad}."
    if t is ErrorType.CO and f.op:
        word = next((q.word for s in comp.ops[f.op - 1].sources if (q := comp.quantity(s)) and q.word), "that")
        fmt = _MISCOUNTS.get(word, ((), "{word} means {good}, not {bad}."))[1]
        return "Wait, I think I miscounted there.", fmt.format(word=word.capitalize(), good=good, bad=bad)
    if t is ErrorType.MS and f.skipped:
        return "Hold on, I think I skipped a step.", f"I need {comp.ops[f.skipped - 1].what} first."
    if t is ErrorType.QM and w is None:
        done = len(comp.ops) in f.done
        tail = "which I already found." if done else "so I am not done yet."
        return "Wait, is that really what the question asks?", f"The question asks for {asked}, {tail}"
    if t is ErrorType.QM:
        return "Wait, is that really what the question asks?", "Those are not the numbers the question asks me to use."
    if t is ErrorType.CS:
        said = f"I found {good} for {asked}." if w is None else f"The value I found before is {good}, not {bad}."
        return "Hmm, that number does not match what I found before.", said
    return "Hmm, that does not make sense.", "Let me redo the work carefully."


def _redo(comp: Computation, done: frozenset[int], focus: int | None) -> list[int]:
    """The ops still to write, in computation order; the op to fix first when it can be computed now."""
    pending = [i for i in range(1, len(comp.ops) + 1) if i not in done]
    ready = focus in pending and all(not s.startswith("s:") or int(s[2:]) in done for s in comp.ops[focus - 1].sources)
    return [focus, *(i for i in pending if i != focus)] if ready and focus else pending


def fix_continue(comp: Computation, prefix: str, gold: Fraction, dataset: str, rng: random.Random) -> Revision | None:
    """Reflection, the fix of the first wrong step the checker finds in `prefix`, then the remaining steps."""
    f = check_solution(comp, prefix, gold, dataset)
    if f.verdict == "correct" or f.step is None:
        return None
    specific, why = _explain(f, comp)
    reflection = specific if rng.random() < 0.3 else rng.choice(FIX_PHRASES)  # some name the error, as in the paper
    lines = [reflection, why, *(step_line(comp, i) for i in _redo(comp, f.done, f.skipped or f.op))]
    return Revision("\n".join([*lines, f"{ANSWER_PREFIX}{_n(gold)}"]), reflection)


def _expression(comp: Computation, index: int, values: dict[int, int]) -> str:
    """Op `index` as one expression over question numbers and the `values` of ops already reduced."""
    op, parts = comp.ops[index - 1], []
    for side, src in enumerate(op.sources):
        j = int(src[2:]) if src.startswith("s:") else 0
        if j and j not in values:
            inner, sub = _expression(comp, j, values), comp.ops[j - 1].op
            paren = (op.op in "*/" and sub in "+-") if side == 0 else not (op.op in "+-" and sub in "*/")
            parts.append(f"({inner})" if paren else inner)
        else:
            q = comp.quantity(src)
            parts.append(str(values[j] if j else q.value if q else "?"))
    return f"{parts[0]} {op.op} {parts[1]}"


def _expression_lines(comp: Computation, rng: random.Random) -> list[str]:
    k, values = len(comp.ops), {}  # type: dict[int, int]
    intro = rng.choice(("Let me write the whole computation as one expression: {e}.",
                        "All the steps fit in one expression: {e}.", "The question boils down to {e}."))
    link = rng.choice(("so it becomes", "so the expression is now", "which leaves"))
    lines = [intro.format(e=_expression(comp, k, values))]
    for i, op in enumerate(comp.ops, start=1):
        values[i] = op.result
        eq = Equation(op.a, op.op, op.b, op.result)
        lines.append(f"{eq}, {link} {_expression(comp, k, values)}." if i < k else f"That leaves {eq}.")
    return lines


def _restated_lines(comp: Computation, rng: random.Random) -> list[str]:
    """Each quantity named and computed, in another valid order, operands swapped where that changes nothing."""
    order: list[int] = []
    while len(order) < len(comp.ops):
        ready = [i for i in range(1, len(comp.ops) + 1) if i not in order and
                 all(not s.startswith("s:") or int(s[2:]) in order for s in comp.ops[i - 1].sources)]
        order.append(rng.choice(ready))
    lines = [f"The question asks for {comp.ops[-1].what}."]
    for i in order:
        op = comp.ops[i - 1]
        a, b = (op.b, op.a) if op.op in "+*" else (op.a, op.b)
        form = rng.choice(("{W} is {eq}.", "To find {w}, I compute {eq}.", "For {w}, I get {eq}."))
        lines.append(form.format(W=op.what[0].upper() + op.what[1:], w=op.what, eq=Equation(a, op.op, b, op.result)))
    return lines


def fresh_restart(comp: Computation, gold: Fraction, rng: random.Random) -> Revision:
    reflection = rng.choice(FRESH_PHRASES)
    method = rng.choice((_expression_lines, _restated_lines))
    return Revision("\n".join([reflection, *method(comp, rng), f"{ANSWER_PREFIX}{_n(gold)}"]), reflection)


def smooth_text(text: str, rng: random.Random) -> str:
    """Connectives at the start of equation lines and an opening line; equations and the answer stay as they are."""
    lines = text.split("\n")
    rows = [i for i, line in enumerate(lines) if EQUATION.search(line) and not ANSWER.search(line)]
    for rank, i in enumerate(rows):
        pool = _FIRST if rank == 0 else _LAST if rank == len(rows) - 1 else _MIDDLE
        lines[i] = _connect(lines[i], rng.choice(pool))
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if rows and first == rows[0]:
        lines.insert(first, rng.choice(_OPENINGS))
    return "\n".join(lines)


def _connect(line: str, connective: str) -> str:
    body = line.lstrip()
    if body.startswith(_CONNECTED):
        return line
    if body.split(" ", 1)[0] in _LOWER:
        body = body[0].lower() + body[1:]
    return line[: len(line) - len(line.lstrip())] + connective + body


# -------------------------------------------------------------------------------------------------------- the teacher
class SymbolicTeacher:
    """The `Teacher` of the arith world: rule-based, deterministic, free; one request counted per job item."""

    name = "symbolic"
    model = "symbolic-v1"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.usage = TeacherUsage()

    @property
    def injectable_types(self) -> frozenset[ErrorType]:
        return frozenset(_PLANNERS)

    def classify(self, requests: list[ClassifyRequest]) -> list[Outcome[Label]]:
        def one(r: ClassifyRequest, comp: Computation) -> Outcome[Label]:
            f = check_solution(comp, r.solution, _gold(r.problem, comp), r.problem.dataset)
            return Outcome(Label(f.verdict, f.error_type, f.step), raw=_describe(f))
        return self._run(requests, one)

    def locate(self, requests: list[LocateRequest]) -> list[Outcome[Location]]:
        def one(r: LocateRequest, comp: Computation) -> Outcome[Location]:
            f = check_solution(comp, r.solution, _gold(r.problem, comp), r.problem.dataset)
            if f.verdict == "correct":
                return Outcome(Location("correct"), raw=_describe(f))
            if f.step is None:
                return Outcome(failure="invalid_step", raw=_describe(f))
            return Outcome(Location("incorrect", f.step), raw=_describe(f))
        return self._run(requests, one)

    def inject(self, requests: list[InjectRequest]) -> list[Outcome[Injection]]:
        def one(r: InjectRequest, comp: Computation) -> Outcome[Injection]:
            made = inject_error(comp, r.error_type, self._rng(r.problem, "inject", r.draw))
            return Outcome(made) if made else Outcome(failure="type_not_applicable", raw=str(r.error_type))
        return self._run(requests, one)

    def fix_continue(self, requests: list[ReviseRequest]) -> list[Outcome[Revision]]:
        def one(r: ReviseRequest, comp: Computation) -> Outcome[Revision]:
            rng = self._rng(r.problem, "fix", _digest(r.prefix))
            made = fix_continue(comp, r.prefix, _gold(r.problem, comp), r.problem.dataset, rng)
            return Outcome(made) if made else Outcome(failure="no_error_found")
        return self._run(requests, one)

    def fresh_restart(self, requests: list[ReviseRequest]) -> list[Outcome[Revision]]:
        """The reference-free variant; a model-aware `correct_solution` is not needed, the computation is known."""
        def one(r: ReviseRequest, comp: Computation) -> Outcome[Revision]:
            rng = self._rng(r.problem, "fresh", _digest(r.prefix))
            return Outcome(fresh_restart(comp, _gold(r.problem, comp), rng))
        return self._run(requests, one)

    def smooth(self, requests: list[SmoothRequest]) -> list[Outcome[str]]:
        def one(r: SmoothRequest, comp: Computation) -> Outcome[str]:
            return Outcome(smooth_text(r.text, self._rng(r.problem, "smooth", _digest(r.text))))
        return self._run(requests, one, needs_computation=False)

    def close(self) -> None:
        return None

    def _rng(self, problem: Problem, job: str, draw: int | str) -> random.Random:
        key = f"{self.seed}\x1f{problem.id}\x1f{job}\x1f{draw}".encode()
        return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))

    def _run(self, requests: list[R], one: Callable[[R, Computation], Outcome[V]],
             needs_computation: bool = True) -> list[Outcome[V]]:
        """One outcome per request; a problem without a computation or an unexpected error is a counted failure."""
        outcomes: list[Outcome[V]] = []
        for r in requests:
            self.usage.requests += 1
            comp = _computation(r.problem)  # type: ignore[attr-defined]
            try:
                if comp is None and needs_computation:
                    outcome: Outcome[V] = Outcome(failure="no_computation",
                                                  raw=r.problem.id)  # type: ignore[attr-defined]
                else:
                    outcome = one(r, comp)  # type: ignore[arg-type]
            except Exception as exc:  # a rule bug must not lose the rest of the batch
                outcome = Outcome(failure="internal_error", raw=f"{type(exc).__name__}: {exc}")
            if not outcome.ok:
                self.usage.failures += 1
                self.usage.failure_reasons[outcome.failure or "unknown"] += 1
            outcomes.append(outcome)
        return outcomes


def _computation(problem: Problem) -> Computation | None:
    try:
        return Computation.from_meta(problem.meta) if problem.meta.get("ops") else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _gold(problem: Problem, comp: Computation) -> Fraction:
    try:
        return Fraction(problem.gold.strip())
    except (ValueError, ZeroDivisionError, AttributeError):
        return Fraction(comp.answer)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def _describe(f: Finding) -> str:
    kind = f.error_type.value if f.error_type else "-"
    return f"{f.verdict} {kind} step={f.step}"
