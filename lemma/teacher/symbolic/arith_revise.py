"""Writing solutions of the `arith` world: typed error injection, Fix & Continue, Fresh & Restart and smoothing.

Injection rewrites the computation (`lemma.world.arith.Change`) and recomputes every later op, so the flawed text is
consistent and ends with a wrong answer. Step and variant are drawn by a seed from sha256(seed, problem id, job,
draw); never from Python's salted hash(). Fix & Continue restates the fix of the first wrong step found by the
checker and continues from the computation. Fresh & Restart solves again as one expression reduced step by step, or
by naming each quantity in another order and phrasing. Smoothing adds connectives at line starts (and an opening
line), so equations and the answer line stay byte-identical.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from lemma.taxonomy import ErrorType
from lemma.teacher.base import Injection, Revision
from lemma.teacher.symbolic.arith_check import ANSWER, EQUATION, Finding, _n, check_solution
from lemma.world.arith import ANSWER_PREFIX, Change, Computation, Equation, evaluate, render, step_line

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


PLANNERS: dict[ErrorType, Callable[[Computation], list[_Plan]]] = {
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
    for plan in PLANNERS[etype](comp) if etype in PLANNERS else []:
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
