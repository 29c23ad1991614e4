"""Checking solutions of the `relations` world line by line: the classify and locate jobs of the symbolic teacher.

The checker knows the problem's graph (lemma.world.relations) and reads a solution as a teacher would: each line
names one person and how it is computed. The verdict comes from the final answer alone; the first wrong step and its
type come from the lines, so a label never depends on how an error was made. Lines are parsed by regex, never
evaluated as code.

What can go wrong in a line, in the order checked, and the type it gets (the paper's taxonomy, Table 12):
- not a line of this world at all -> NO (nonsensical output); a person the question never mentions -> HA;
- a leaf written with a number the question does not give it -> CV (context value copied wrongly);
- a relation bound to the wrong person ("Tom = Ben - 3" when Tom has 3 fewer than Mia) -> CC (two similar things
  mixed up), a distractor included; the wrong operation ("+" for "fewer", "*" for "half") -> OP; the wrong amount
  (4 more for 3 more) -> CV; a relation written for a person whose value the question states -> CC;
- the right relation over a person who has no line yet (used before it is known) -> MS (a needed step left out);
- an operand whose number differs from the one its own earlier line gave -> CS (inconsistent with an earlier step);
- a wrong result of the one operation -> CA;
- an answer line that reports another quantity, or stops before the asked person is computed -> QM; an answer that
  contradicts the asked person's own line -> CS; no answer at all -> NO after the last line.
A reflection line ("Wait, ...") retracts the value line before it, so trajectories are read as a reader would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lemma.reflection import first_reflection
from lemma.steps import split_steps
from lemma.taxonomy import ErrorType
from lemma.world.arith_computation import apply_op
from lemma.world.relations import DATASET, Graph, Person, relation_terms

_NAME = r"[A-Z][a-z]+"
_TERM = rf"(?:{_NAME}|\d+)"
LEAF_LINE = re.compile(rf"^({_NAME}) = (\d+)$")
RELATION_LINE = re.compile(rf"^({_NAME}) = ({_TERM}) ([-+*/]) ({_TERM}) = (\d+) ([-+*/]) (\d+) = (\d+)$")
ANSWER_LINE = re.compile(r"[Tt]he answer is:?\s*(-?\d+)")


@dataclass(frozen=True)
class Line:
    """One parsed value line: `name = left op right = a op b = result`, or a leaf `name = result`."""
    name: str
    result: int
    terms: tuple[str, str, str] | None = None  # by name, e.g. ("Ben", "-", "3"); None for a leaf line
    numbers: tuple[int, str, int] | None = None  # by value, e.g. (6, "-", 3)


@dataclass(frozen=True)
class Finding:
    """The verdict of a solution and, when wrong, its first wrong step (1-based, lemma.steps numbering)."""
    verdict: str  # correct | incorrect
    error_type: ErrorType | None = None
    step: int | None = None
    person: str | None = None  # whose line is wrong (None for the answer line or a text with no lines)
    detail: str = ""  # what exactly, for reflections and reports: "name:Mia", "unknown:Ben", "value:8", ...
    written: Mapping[str, int] = field(default_factory=dict)  # values of the lines before the wrong step


def parse_line(text: str) -> Line | None:
    text = text.strip()
    if m := LEAF_LINE.match(text):
        return Line(m[1], int(m[2]))
    if m := RELATION_LINE.match(text):
        return Line(m[1], int(m[8]), (m[2], m[3], m[4]), (int(m[5]), m[6], int(m[7])))
    return None


def apply(a: int, op: str, b: int) -> int | None:
    """a op b as a solution line writes it, when it is a non-negative integer (lemma.world.arith's rule)."""
    return apply_op(op, a, b)


def final_answer(text: str) -> int | None:
    found = ANSWER_LINE.findall(text)
    return int(found[-1]) if found else None


def _same_terms(written: tuple[str, str, str], expected: tuple[str, str, str], symmetric: bool) -> bool:
    return written == expected or (symmetric and written == (expected[2], expected[1], expected[0]))


def _relation_error(line: Line, person: Person, graph: Graph) -> tuple[ErrorType, str] | None:
    """What is wrong with the relation a line writes for `person`, by name; None when it is the question's."""
    assert line.terms is not None
    symmetric = person.kind in ("sum", "twice", "more")
    expected = relation_terms(person)
    if _same_terms(line.terms, expected, symmetric):
        return None
    w_names = {t for t in (line.terms[0], line.terms[2]) if not t.isdigit()}
    e_names = {t for t in (expected[0], expected[2]) if not t.isdigit()}
    w_numbers = sorted(t for t in (line.terms[0], line.terms[2]) if t.isdigit())
    e_numbers = sorted(t for t in (expected[0], expected[2]) if t.isdigit())
    if w_names != e_names and len(w_names) == len(e_names):
        wrong = sorted(w_names - e_names)[0]
        return ErrorType.CC, f"name:{wrong}" + (":distractor" if wrong in graph_names(graph) - graph.needed() else "")
    if line.terms[1] != expected[1] or w_names != e_names:
        return ErrorType.OP, f"op:{line.terms[1]}"
    if w_numbers != e_numbers:
        return ErrorType.CV, f"amount:{w_numbers[0] if w_numbers else '?'}"
    return ErrorType.OP, "order"  # the same names and amount in an order that changes the result ("3 - Ben")


def graph_names(graph: Graph) -> set[str]:
    return {p.name for p in graph.people}


class Checker:
    """Walks a solution's lines, keeping the values written so far (a reflection retracts the line before it)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.written: dict[str, int] = {}
        self.history: list[str | None] = []  # the person of each value line, for retraction
        self.last_value_step = 0

    def finding(self, etype: ErrorType, step: int | None, person: str | None, detail: str) -> Finding:
        return Finding("incorrect", etype, step, person, detail, dict(self.written))

    def value_line(self, step: int, line: Line) -> Finding | None:
        person = self.graph.get(line.name)
        if person is None:
            return self.finding(ErrorType.HA, step, line.name, f"stranger:{line.name}")
        if line.terms is None:
            found = self._leaf(step, line, person)
        else:
            found = self._relation(step, line, person)
        if found is None:
            self.written[line.name] = line.result
            self.history.append(line.name)
            self.last_value_step = step
        return found

    def _leaf(self, step: int, line: Line, person: Person) -> Finding | None:
        if line.result == person.value:
            return None  # a relation's value written without its computation is tolerated when it is right
        if person.is_leaf:
            return self.finding(ErrorType.CV, step, person.name, f"value:{line.result}")
        return self.finding(ErrorType.MS, step, person.name, "skipped")

    def _relation(self, step: int, line: Line, person: Person) -> Finding | None:
        assert line.terms is not None and line.numbers is not None
        if person.is_leaf:
            return self.finding(ErrorType.CC, step, person.name, "leaf_as_relation")
        wrong = _relation_error(line, person, self.graph)
        if wrong is not None:
            return self.finding(wrong[0], step, person.name, wrong[1])
        for term, number in ((line.terms[0], line.numbers[0]), (line.terms[2], line.numbers[2])):
            if term.isdigit():
                if int(term) != number:
                    return self.finding(ErrorType.CV, step, person.name, f"amount:{number}")
            elif term not in self.written:
                return self.finding(ErrorType.MS, step, person.name, f"unknown:{term}")
            elif self.written[term] != number:
                return self.finding(ErrorType.CS, step, person.name, f"operand:{term}:{number}")
        if apply(*line.numbers) != line.result:
            return self.finding(ErrorType.CA, step, person.name, f"result:{line.result}")
        return None

    def retract(self) -> None:
        """A reflection: the value line before it no longer counts."""
        if self.history and (name := self.history.pop()) is not None:
            self.written.pop(name, None)

    def answer(self, step: int, value: int) -> Finding | None:
        target = self.graph.target
        if value == self.graph.answer:
            return None
        if target in self.written:
            if self.written[target] == value:  # the target's own line was wrong but passed unnoticed: impossible
                return self.finding(ErrorType.CS, step, None, f"answer:{value}")
            return self.finding(ErrorType.CS, step, None, f"answer:{value}")
        return self.finding(ErrorType.QM, step, None, f"asked:{target}")


def check_solution(graph: Graph, text: str) -> Finding:
    """The verdict (by the final answer) and the first wrong step (by the lines) of one solution."""
    gold = graph.answer
    if final_answer(text) == gold:
        return Finding("correct")
    spans = split_steps(text, DATASET)
    if not spans:
        return Finding("incorrect", ErrorType.NO, None)
    checker = Checker(graph)
    for step, span in enumerate(spans, start=1):
        piece = text[span.start:span.end].strip()
        if first_reflection(piece) == 0:
            checker.retract()
            continue
        if (answer := ANSWER_LINE.search(piece)) is not None:
            found = checker.answer(step, int(answer[1]))
            if found is not None:
                return found
            continue
        line = parse_line(piece)
        found = (checker.value_line(step, line) if line is not None
                 else checker.finding(ErrorType.NO, step, None, "unparsed"))
        if found is not None:
            return found
    after = checker.last_value_step + 1
    return checker.finding(ErrorType.NO, after if after <= len(spans) else len(spans), None, "no_answer")


def lines_so_far_right(graph: Graph, text: str) -> bool:
    """Whether a partial solution (the text before a reflection) holds no wrong line and no wrong answer yet."""
    found = check_solution(graph, text)
    return found.verdict == "correct" or found.detail == "no_answer"
