"""The arith world's problem as data: a `Computation` of quantities and ops, and `evaluate` under a `Change`.

The leaf of the arith modules (lemma.world.arith re-exports it): the stories (arith_stories) build computations, and
the symbolic teacher (lemma.teacher.symbolic.arith_*) re-evaluates them to check, inject and revise solutions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

ANSWER_PREFIX = "The answer is: "
MAX_VALUE = 1000  # every value stays below this, so a tiny model can learn the arithmetic


@dataclass(frozen=True)
class Quantity:
    name: str
    value: int
    word: str | None = None  # written as words ("a dozen"): a miscount of it is a counting error, not a misread number


@dataclass(frozen=True)
class Op:
    a: int
    b: int
    op: str
    result: int
    a_src: str
    b_src: str
    say: str  # the reference sentence; "{eq}" marks where the equation goes
    what: str  # the result as a noun phrase, for revisions: "the number of apples Tom has left"

    @property
    def sources(self) -> tuple[str, str]:
        return self.a_src, self.b_src


@dataclass(frozen=True)
class Equation:
    a: int
    op: str
    b: int
    c: int

    def __str__(self) -> str:
        return f"{self.a} {self.op} {self.b} = {self.c}"


@dataclass(frozen=True)
class Change:
    """A deviation from the computation; `evaluate` carries it through every later op."""
    results: Mapping[int, int] = field(default_factory=dict)  # op -> the wrong result written there
    operators: Mapping[int, str] = field(default_factory=dict)  # op -> the operator used instead
    operands: Mapping[tuple[int, int], int] = field(default_factory=dict)  # (op, side 0|1) -> the value used instead
    skip: int | None = None  # an op never computed
    stop: int | None = None  # the last op computed


@dataclass(frozen=True)
class Computation:
    quantities: tuple[Quantity, ...]
    ops: tuple[Op, ...]

    @property
    def answer(self) -> int:
        return self.ops[-1].result

    def quantity(self, src: str) -> Quantity | None:
        """The quantity a "q:<name>" source names, else None."""
        return next((q for q in self.quantities if f"q:{q.name}" == src), None)

    def values(self) -> set[int]:
        """Every number of the computation: quantities, operands, results."""
        return {q.value for q in self.quantities} | {v for o in self.ops for v in (o.a, o.b, o.result)}

    def user_of(self, index: int) -> tuple[int, int] | None:
        """(op, side) of the first op that uses the result of op `index`."""
        for i, op in enumerate(self.ops, start=1):
            for side, src in enumerate(op.sources):
                if src == f"s:{index}":
                    return i, side
        return None

    def to_meta(self) -> dict[str, Any]:
        return {"quantities": [asdict(q) for q in self.quantities], "ops": [asdict(o) for o in self.ops]}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> Computation:
        return cls(tuple(Quantity(**q) for q in meta["quantities"]), tuple(Op(**o) for o in meta["ops"]))


def apply_op(op: str, a: int, b: int) -> int | None:
    """a op b when it stays a non-negative integer (division only when exact), else None."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b if a >= b else None
    if op == "*":
        return a * b
    if op == "/":
        return a // b if b and a % b == 0 else None
    return None


def evaluate(comp: Computation, change: Change | None = None) -> list[tuple[int, Equation]] | None:
    """The (op index, equation) pairs written under `change`, carried through; None when a value goes invalid."""
    change = change or Change()
    results: dict[int, int] = {}
    written: list[tuple[int, Equation]] = []
    for i, op in enumerate(comp.ops, start=1):
        if i == change.skip or (change.stop is not None and i > change.stop):
            continue
        operands = [change.operands[(i, side)] if (i, side) in change.operands else _resolve(comp, src, results)
                    for side, src in enumerate(op.sources)]
        symbol = change.operators.get(i, op.op)
        if operands[0] is None or operands[1] is None or (true := apply_op(symbol, *operands)) is None:
            return None
        results[i] = change.results.get(i, true)
        written.append((i, Equation(operands[0], symbol, operands[1], results[i])))
    return written


def _resolve(comp: Computation, src: str, results: Mapping[int, int]) -> int | None:
    if src.startswith("s:"):
        return results.get(int(src[2:]))
    quantity = comp.quantity(src)
    return quantity.value if quantity else None


def step_line(comp: Computation, index: int, eq: Equation | None = None) -> str:
    """The sentence of op `index` (1-based) holding `eq`, by default the op's own right equation."""
    op = comp.ops[index - 1]
    return op.say.replace("{eq}", str(eq or Equation(op.a, op.op, op.b, op.result)))


def render(comp: Computation, written: list[tuple[int, Equation]], answer: int) -> str:
    """A solution: one line per written equation, then the answer line."""
    return "\n".join([*(step_line(comp, i, eq) for i, eq in written), f"{ANSWER_PREFIX}{answer}"])
