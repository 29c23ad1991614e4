"""Writing solutions of the `relations` world: typed error injection, Fix & Continue and Fresh & Restart by rule.

Injection writes the reference lines with one planted change and carries it through: every later line uses the
numbers written before it, so the flawed text is consistent and ends with a wrong answer, as a student's would. An
injection is kept only when the checker (relations_check) finds exactly the planted error, at the planted line,
with the planted type (the fidelity gate the original pipeline lacks).

Fix & Continue keeps the flawed prefix, adds one short reason that points at what the checker found, then writes
the lines still missing in dependency order and the answer. The reasons re-read what decides the line: the
question's own sentence about the person at fault ("Wait, Tom has 3 fewer apples than Mia."), that an operand has
no line yet ("Wait, Ben is not known yet."), the value an earlier line gave, or the operation. Fresh & Restart
announces a restart and solves the whole problem again in another valid order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from lemma.taxonomy import ErrorType
from lemma.teacher.base import Injection, Revision
from lemma.teacher.symbolic.relations_check import Finding, apply, check_solution
from lemma.steps import split_steps
from lemma.world.relations import (ANSWER_PREFIX, DATASET, Graph, Person, other_orders, reference_order, relation_terms,
                                   sentence)

MAX_NUMBER = 199  # the closed vocabulary holds the numbers 0..MAX_NUMBER
FIX_OPENER = "Wait,"
FRESH_PHRASE = "Wait, let me start over."
SWAPPED = {"more": "fewer", "fewer": "more", "twice": "half", "half": "twice"}


@dataclass(frozen=True)
class Spec:
    """One line to write: a person's relation as written (maybe changed), with optional forced numbers."""
    person: Person
    operand_values: Mapping[str, int] | None = None  # numbers used for operands instead of their written values
    result: int | None = None  # a forced (wrong) result


def _terms_numbers(p: Person, values: Mapping[str, int]) -> tuple[tuple[str, str, str], tuple[int, str, int]] | None:
    names = relation_terms(p)
    try:
        numbers = relation_terms(p, values)
    except KeyError:
        return None
    return names, (int(numbers[0]), numbers[1], int(numbers[2]))


def write_lines(specs: Sequence[Spec], graph: Graph,
                known: Mapping[str, int] | None = None) -> tuple[list[str], dict[str, int]] | None:
    """Render `specs` in order, each using the numbers written before it (and `known` ones, written earlier);
    None when a number leaves the range or an operand has no value."""
    written: dict[str, int] = dict(known or {})
    lines = []
    for spec in specs:
        p = spec.person
        if p.is_leaf:
            value = spec.result if spec.result is not None else p.value
            lines.append(f"{p.name} = {value}")
        else:
            got = _terms_numbers(p, {**written, **(spec.operand_values or {})})
            if got is None:
                return None
            names, (a, op, b) = got
            true = apply(a, op, b)
            if true is None:
                return None
            value = spec.result if spec.result is not None else true
            lines.append(f"{p.name} = {' '.join(names)} = {a} {op} {b} = {value}")
        if not 0 <= value <= MAX_NUMBER:
            return None
        written[p.name] = value
    return lines, written


def _flawed(graph: Graph, order: Sequence[str], at: int, changed: Spec, drop_rest: bool = False) -> str | None:
    """The solution in `order` with line `at` replaced by `changed` and carried through (or stopped there)."""
    specs = [Spec(graph[n]) for n in order]
    specs[at] = changed
    if drop_rest:
        specs = specs[: at + 1]
    got = write_lines(specs, graph)
    if got is None:
        return None
    lines, written = got
    answer = written.get(graph.target) if not drop_rest else written[specs[-1].person.name]
    if answer is None or answer == graph.answer:
        return None
    return "\n".join([*lines, f"{ANSWER_PREFIX}{answer}"])


# ------------------------------------------------------------------------------------------------------- injection
Candidate = tuple[int, Spec, bool]  # (line index in the order, changed line, stop after it)


def _cv(graph: Graph, order: list[str]) -> list[Candidate]:
    """A leaf given another number (another leaf's value first), or a `more`/`fewer` amount copied wrong."""
    leaves = sorted({p.value for p in graph.people if p.is_leaf})
    out: list[Candidate] = []
    for i, name in enumerate(order):
        p = graph[name]
        if p.is_leaf:
            wrong = [v for v in leaves if v != p.value] or [p.value + 1, p.value + 2]
            out += [(i, Spec(p, result=v), False) for v in wrong]
        elif p.kind in ("more", "fewer"):
            out += [(i, Spec(replace(p, k=k)), False) for k in range(1, 10) if k != p.k]
    return out


def _cc(graph: Graph, order: list[str]) -> list[Candidate]:
    """A relation bound to another person whose line is already written (or a leaf distractor)."""
    needed = graph.needed()
    out: list[Candidate] = []
    for i, name in enumerate(order):
        p = graph[name]
        if p.is_leaf:
            continue
        known = set(order[:i]) | {q.name for q in graph.people if q.is_leaf and q.name not in needed}
        for slot, arg in enumerate(p.args):
            for other in sorted(known - set(p.args) - {name}):
                args = list(p.args)
                args[slot] = other
                extra = {other: graph[other].value} if other not in order[:i] else None
                out.append((i, Spec(replace(p, args=tuple(args)), operand_values=extra), False))
    return out


def _op(graph: Graph, order: list[str]) -> list[Candidate]:
    out: list[Candidate] = []
    for i, name in enumerate(order):
        p = graph[name]
        if p.kind in SWAPPED:
            out.append((i, Spec(replace(p, kind=SWAPPED[p.kind])), False))
    return out


def _cs(graph: Graph, order: list[str]) -> list[Candidate]:
    """An operand given a number other than the one its own earlier line wrote."""
    out: list[Candidate] = []
    for i, name in enumerate(order):
        p = graph[name]
        for arg in p.args:
            values = sorted({graph[n].value for n in order[:i]} - {graph[arg].value})
            out += [(i, Spec(p, operand_values={arg: v}), False) for v in values]
    return out


def _ms(graph: Graph, order: list[str]) -> list[Candidate]:
    """A line moved before one of its operands' lines, with a number for that operand taken from elsewhere."""
    out: list[Candidate] = []
    for i, name in enumerate(order):
        p = graph[name]
        for arg in p.args:
            j = order.index(arg)
            earlier = [n for n in order[:j]]
            guesses = sorted({graph[n].value for n in earlier} - {graph[arg].value})
            for v in guesses:
                out.append((j, Spec(p, operand_values={arg: v}), False))
    return out


def _qm(graph: Graph, order: list[str]) -> list[Candidate]:
    """The solution stops at an intermediate person and reports it."""
    return [(i, Spec(graph[n]), True) for i, n in enumerate(order[:-1])]


def _ca(graph: Graph, order: list[str]) -> list[Candidate]:
    out: list[Candidate] = []
    for i, name in enumerate(order):
        p = graph[name]
        if not p.is_leaf:
            out += [(i, Spec(p, result=p.value + d), False) for d in (-2, -1, 1, 2) if p.value + d >= 0]
    return out


PLANNERS: dict[ErrorType, Callable[[Graph, list[str]], list[Candidate]]] = {
    ErrorType.CV: _cv, ErrorType.CC: _cc, ErrorType.OP: _op, ErrorType.CS: _cs, ErrorType.MS: _ms,
    ErrorType.QM: _qm, ErrorType.CA: _ca}


def _moved(order: list[str], j: int, name: str) -> list[str]:
    """`order` with `name` moved to position j (MS: a line written before its operand)."""
    rest = [n for n in order if n != name]
    return [*rest[:j], name, *rest[j:]]


def inject_error(graph: Graph, etype: ErrorType, rng: random.Random) -> Injection | None:
    """A flawed solution with one error of `etype`, carried through and confirmed by the checker; None if none fits."""
    order = reference_order(graph)
    candidates = PLANNERS[etype](graph, order) if etype in PLANNERS else []
    rng.shuffle(candidates)
    for at, spec, stop in candidates[:40]:
        line_order = _moved(order, at, spec.person.name) if etype is ErrorType.MS else order
        text = _flawed(graph, line_order, at, spec, drop_rest=stop)
        if text is None:
            continue
        found = check_solution(graph, text)
        step = at + 2 if stop else at + 1  # QM: the answer line after the last written line is the wrong step
        if found.error_type is etype and found.step == step:
            return Injection(text=text, explanation=f"{etype.abbr} at line {step}: {found.detail}",
                             intended_step=step)
    return None


# ------------------------------------------------------------------------------------------------------ revisions
def reason(graph: Graph, f: Finding) -> str | None:
    """One short sentence that re-reads what decides the wrong line; None when nothing can be said (NO, HA)."""
    kind, _, rest = f.detail.partition(":")
    if f.error_type is ErrorType.QM:
        return f"{FIX_OPENER} the question asks for {graph.target}."
    if f.error_type is ErrorType.CS and kind == "answer":
        return f"{FIX_OPENER} {graph.target} is {f.written.get(graph.target, '?')}."
    if f.error_type is ErrorType.MS and kind == "unknown":
        return f"{FIX_OPENER} {rest} is not known yet."
    if f.error_type is ErrorType.CS and kind == "operand":
        name = rest.split(":")[0]
        return f"{FIX_OPENER} {name} is {f.written[name]}."
    if f.person is None or graph.get(f.person) is None:
        return None
    person = graph[f.person]
    if f.error_type is ErrorType.CA and not person.is_leaf:
        a, op, b = relation_terms(person, {**f.written, **{n: graph[n].value for n in person.args}})
        value = apply(int(a), op, int(b))
        return f"{FIX_OPENER} {a} {op} {b} = {value}."
    if f.error_type in (ErrorType.CC, ErrorType.OP, ErrorType.CV, ErrorType.MS):
        return f"{FIX_OPENER} {sentence(person, graph.obj, graph.phrasing)}"
    return None


def continuation(graph: Graph, written: Mapping[str, int]) -> list[str]:
    """The lines still missing after the right ones in `written`, in reference order, then the answer."""
    todo = [n for n in reference_order(graph) if n not in written]
    got = write_lines([Spec(graph[n]) for n in todo], graph, known=written)
    if got is None:
        raise ValueError(f"cannot continue {sorted(written)} towards {graph.target}")  # a bug, not a data issue
    return [*got[0], f"{ANSWER_PREFIX}{graph.answer}"]


def fix_continue(graph: Graph, prefix: str, rng: random.Random) -> Revision | None:
    """The reason for the first wrong line the checker finds in `prefix`, then the missing lines and the answer."""
    f = check_solution(graph, prefix)
    if f.verdict == "correct" or f.step is None:
        return None
    why = reason(graph, f)
    if why is None:
        return None
    written = {n: v for n, v in f.written.items() if graph.get(n) is not None and graph[n].value == v}
    text = "\n".join([why, *continuation(graph, written)])
    return Revision(text, why, clean=clean_solution(graph, text, prefix, "fix"))


def fresh_restart(graph: Graph, rng: random.Random) -> Revision:
    """A restart phrase, then the whole solution in another valid order (the reference order when there is none)."""
    order = next(other_orders(graph, rng), None) or reference_order(graph)
    values = {p.name: p.value for p in graph.people}
    got = write_lines([Spec(graph[n]) for n in order], graph)
    lines = got[0] if got else [f"{n} = {values[n]}" for n in order]
    body = "\n".join([*lines, f"{ANSWER_PREFIX}{graph.answer}"])
    return Revision(f"{FRESH_PHRASE}\n{body}", FRESH_PHRASE, clean=body)


def clean_solution(graph: Graph, revision_text: str, prefix: str, strategy: str) -> str:
    """The same problem's solution without the error and the reflection: what the `clean` control arm trains on.

    Fix & Continue: the right lines of the prefix, then the continuation; Fresh & Restart: the new solution alone.
    """
    body = revision_text.split("\n", 1)[1] if "\n" in revision_text else revision_text
    if strategy == "fresh":
        return body
    f = check_solution(graph, prefix)
    spans = split_steps(prefix, DATASET)
    kept = prefix[: spans[f.step - 2].end] if f.step and f.step > 1 else ""
    return f"{kept}\n{body}" if kept else body


def phrase_texts() -> list[str]:
    """Every sentence shape this teacher writes besides the world's own sentences, for the closed vocabulary."""
    name = "Ann"
    return [f"{FIX_OPENER} {name} is not known yet.", f"{FIX_OPENER} the question asks for {name}.",
            f"{FIX_OPENER} {name} is 8.", f"{FIX_OPENER} 2 * 4 = 8.", f"{FIX_OPENER} {name} has 4 apples.",
            FRESH_PHRASE]
