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
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from lemma.records import Problem

ANSWER_PREFIX = "The answer is: "
MAX_VALUE = 1000  # every value stays below this, so a tiny model can learn the arithmetic

_PEOPLE = (("Tom", "he"), ("Anna", "she"), ("Ben", "he"), ("Mia", "she"), ("Leo", "he"), ("Emma", "she"),
           ("Sam", "he"), ("Lily", "she"), ("Max", "he"), ("Zoe", "she"), ("Jack", "he"), ("Nora", "she"),
           ("Omar", "he"), ("Rosa", "she"), ("Ivan", "he"), ("Maya", "she"), ("Carlos", "he"), ("Grace", "she"),
           ("Noah", "he"), ("Ella", "she"))
_OBJECTS = ("apples", "marbles", "stickers", "cookies", "pencils", "books", "eggs", "flowers", "cards", "shells",
            "candies", "oranges", "stamps", "balloons", "cupcakes", "beads", "rocks", "muffins", "crayons", "toy cars")
_CONTAINERS = (("boxes", "box"), ("bags", "bag"), ("packs", "pack"), ("jars", "jar"), ("baskets", "basket"),
               ("crates", "crate"))


# ------------------------------------------------------------------------------------------------ the computation
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


# ------------------------------------------------------------------------------------------------ the story machine
class _Dead(Exception):
    """The numbers drawn do not fit (negative, inexact, zero or too large): draw the story again."""


class _Story:
    def __init__(self, rng: random.Random, max_number: int) -> None:
        self.rng, self.max = rng, max_number
        self.name, self.pron = rng.choice(_PEOPLE)
        self.friend = rng.choice([p for p, _ in _PEOPLE if p != self.name])
        self.obj = rng.choice(_OBJECTS)
        (self.box, self.box1), (self.box2, _) = rng.sample(_CONTAINERS, 2)
        self.sentences: list[str] = []
        self.quantities: list[Quantity] = []
        self.ops: list[Op] = []
        self.cur: tuple[int, str] = (0, "")
        self.question = ""

    @property
    def cap(self) -> str:
        return self.pron.capitalize()

    @property
    def them(self) -> str:
        return "him" if self.pron == "he" else "her"

    def num(self, lo: int, hi: int) -> int:
        hi = min(hi, self.max)
        if hi < lo:
            raise _Dead
        return self.rng.randint(lo, hi)

    def q(self, name: str, value: int, word: str | None = None) -> tuple[int, str]:
        taken, base, k = {x.name for x in self.quantities}, name, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        self.quantities.append(Quantity(name, value, word))
        return value, f"q:{name}"

    def op(self, a: tuple[int, str], b: tuple[int, str], symbol: str, say: str, what: str) -> tuple[int, str]:
        result = apply_op(symbol, a[0], b[0])
        if result is None or not 1 < result < MAX_VALUE:  # no zero, and no "1 apples"
            raise _Dead
        if not self.ops:  # the first line of a solution names the person instead of "He"/"She"
            say = say.replace(f"{self.cap} ", f"{self.name} ", 1).replace(f" {self.pron} ", f" {self.name} ", 1)
        self.ops.append(Op(a[0], b[0], symbol, result, a[1], b[1], say, what))
        return result, f"s:{len(self.ops)}"

    def problem(self, pid: str) -> Problem:
        comp = Computation(tuple(self.quantities), tuple(self.ops))
        reference = render(comp, evaluate(comp) or [], comp.answer)
        question = " ".join([*self.sentences, self.question])
        return Problem(id=pid, dataset="arith", question=question, reference=reference, gold=str(comp.answer),
                       meta={"world": "arith-v1", **comp.to_meta()})


def _open_has(s: _Story) -> None:
    s.cur = s.q("start", s.num(4, 99))
    s.sentences.append(f"{s.name} has {s.cur[0]} {s.obj}.")


def _open_boxes(s: _Story) -> None:
    n, per = s.q("boxes", s.num(2, 9)), s.q(f"per_{s.box1}", s.num(2, 99))
    s.sentences.append(f"{s.name} buys {n[0]} {s.box} of {s.obj}. Each {s.box1} holds {per[0]} {s.obj}.")
    s.cur = s.op(n, per, "*", f"{s.name} buys {{eq}} {s.obj}.", f"the number of {s.obj} {s.name} buys")
    s.question = f"How many {s.obj} does {s.name} buy?"


def _open_two_days(s: _Story) -> None:
    a, b = s.q("monday", s.num(2, 99)), s.q("tuesday", s.num(2, 99))
    s.sentences.append(f"{s.name} collects {a[0]} {s.obj} on Monday and {b[0]} {s.obj} on Tuesday.")
    s.cur = s.op(a, b, "+", f"{s.name} collects {{eq}} {s.obj} in total.",
                 f"the number of {s.obj} {s.name} collects on the two days")
    s.question = f"How many {s.obj} does {s.name} collect in total?"


def _open_dozen(s: _Story) -> None:
    n, dozen = s.q("boxes", s.num(2, 9)), s.q("dozen", 12, "a dozen")
    s.sentences.append(f"{s.name} buys {n[0]} {s.box} of {s.obj}. Each {s.box1} holds a dozen {s.obj}.")
    s.cur = s.op(n, dozen, "*", f"{s.name} buys {{eq}} {s.obj}.", f"the number of {s.obj} {s.name} buys")
    s.question = f"How many {s.obj} does {s.name} buy?"


def _open_days(s: _Story) -> None:
    per = s.q("per_day", s.num(2, 99))
    days, word, span = s.rng.choice(((7, "a week", "every day for a week"),
                                     (2, "the weekend", "on each day of the weekend")))
    d = s.q("days", days, word)
    s.sentences.append(f"{s.name} collects {per[0]} {s.obj} {span}.")
    when = "in a week" if days == 7 else "over the weekend"
    s.cur = s.op(per, d, "*", f"{s.cap} collects {{eq}} {s.obj} {when}.",
                 f"the number of {s.obj} {s.name} collects {when}")
    s.question = f"How many {s.obj} does {s.name} collect {when}?"


def _ev_more(s: _Story) -> None:
    b = s.q("more", s.num(2, 99))
    s.sentences.append(s.rng.choice((f"Then {s.pron} buys {b[0]} more {s.obj}.",
                                     f"{s.friend} gives {s.them} {b[0]} more {s.obj}.",
                                     f"Later {s.pron} finds {b[0]} more {s.obj}.")))
    s.cur = s.op(s.cur, b, "+", f"Now {s.pron} has {{eq}} {s.obj}.",
                 f"the number of {s.obj} {s.name} has after getting {b[0]} more")
    s.question = f"How many {s.obj} does {s.name} have now?"


def _ev_less(s: _Story) -> None:
    b = s.q("less", s.num(1, s.cur[0] - 1))
    verb, gerund = s.rng.choice(((f"gives {b[0]} of them to {s.friend}", f"giving {b[0]} to {s.friend}"),
                                 (f"loses {b[0]} of them", f"losing {b[0]}"),
                                 (f"sells {b[0]} of them", f"selling {b[0]}"),
                                 (f"uses {b[0]} of them", f"using {b[0]}")))
    s.sentences.append(f"{s.cap} {verb}.")
    s.cur = s.op(s.cur, b, "-", f"{s.cap} has {{eq}} {s.obj} left.",
                 f"the number of {s.obj} {s.name} has after {gerund}")
    s.question = f"How many {s.obj} does {s.name} have left?"


def _divisor(s: _Story, hi: int) -> int:
    options = [d for d in range(2, min(hi, s.max) + 1) if s.cur[0] % d == 0 and d < s.cur[0]]
    if not options:
        raise _Dead
    return s.rng.choice(options)


def _close_share(s: _Story) -> None:
    d = s.q("friends", _divisor(s, 10))
    s.sentences.append(f"{s.cap} shares them equally among {d[0]} friends.")
    s.cur = s.op(s.cur, d, "/", f"Each friend gets {{eq}} {s.obj}.", f"the number of {s.obj} each friend gets")
    s.question = f"How many {s.obj} does each friend get?"


def _close_bags(s: _Story) -> None:
    d = s.q(f"per_{s.box2}", _divisor(s, 25))
    s.sentences.append(f"{s.cap} puts them into {s.box2} with {d[0]} {s.obj} in each.")
    s.cur = s.op(s.cur, d, "/", f"{s.cap} fills {{eq}} {s.box2}.", f"the number of {s.box2} {s.name} fills")
    s.question = f"How many {s.box2} does {s.pron} fill?"


def _close_sell(s: _Story) -> None:
    price = s.q("price", s.num(2, (MAX_VALUE - 1) // s.cur[0]))
    s.sentences.append(f"{s.cap} sells all of them for {price[0]} dollars each.")
    s.cur = s.op(s.cur, price, "*", f"{s.cap} makes {{eq}} dollars.", f"the money {s.name} makes")
    s.question = f"How many dollars does {s.pron} make?"


def _close_sell_spend(s: _Story) -> None:
    _close_sell(s)
    spent = s.q("spent", s.num(1, s.cur[0] - 1))
    s.sentences.append(f"{s.cap} then spends {spent[0]} dollars on lunch.")
    s.cur = s.op(s.cur, spent, "-", f"{s.cap} has {{eq}} dollars left.", f"the money {s.name} has left after lunch")
    s.question = f"How many dollars does {s.pron} have left?"


def _close_compare(s: _Story) -> None:
    kind = s.rng.choice(("more", "fewer", "times"))
    if kind == "times":
        b = s.q("times", s.num(2, min(5, (MAX_VALUE - 1) // s.cur[0])))
        s.sentences.append(f"{s.friend} has {b[0]} times as many {s.obj} as {s.name}.")
    else:
        b = s.q("difference", s.num(1, 99 if kind == "more" else s.cur[0] - 1))
        s.sentences.append(f"{s.friend} has {b[0]} {kind} {s.obj} than {s.name}.")
    symbol = {"more": "+", "fewer": "-", "times": "*"}[kind]
    s.cur = s.op(s.cur, b, symbol, f"{s.friend} has {{eq}} {s.obj}.", f"the number of {s.obj} {s.friend} has")
    s.question = f"How many {s.obj} does {s.friend} have?"


def _close_together(s: _Story) -> None:
    mine = s.cur
    _close_compare(s)
    s.cur = s.op(mine, s.cur, "+", f"Together they have {{eq}} {s.obj}.",
                 f"the number of {s.obj} {s.name} and {s.friend} have together")
    s.question = f"How many {s.obj} do {s.name} and {s.friend} have together?"


# (event, ops it adds, weight)
_OPENINGS: tuple[tuple[Callable[[_Story], None], int, int], ...] = (
    (_open_has, 0, 3), (_open_boxes, 1, 3), (_open_two_days, 1, 2), (_open_dozen, 1, 1), (_open_days, 1, 2))
_RUNNING: tuple[Callable[[_Story], None], ...] = (_ev_more, _ev_less)
_CLOSINGS: tuple[tuple[Callable[[_Story], None] | None, int, int], ...] = (
    (None, 0, 2), (_close_share, 1, 2), (_close_bags, 1, 1), (_close_sell, 1, 1), (_close_compare, 1, 1),
    (_close_sell_spend, 2, 1), (_close_together, 2, 1))


def _pick(rng: random.Random, options: list[tuple[Any, int, int]]) -> tuple[Any, int, int]:
    return rng.choices(options, weights=[w for _, _, w in options])[0]


def _draw_story(rng: random.Random, n_ops: int, max_number: int) -> _Story:
    """One story with exactly `n_ops` ops; redrawn until its numbers fit."""
    for _ in range(1000):
        story = _Story(rng, max_number)
        opening, k, _ = _pick(rng, [o for o in _OPENINGS if o[1] <= n_ops])
        closing, c, _ = _pick(rng, [x for x in _CLOSINGS if x[1] <= n_ops - k])
        try:
            opening(story)
            for _ in range(n_ops - k - c):
                rng.choice(_RUNNING)(story)
            if closing is not None:
                closing(story)
        except _Dead:
            continue
        return story
    raise RuntimeError(f"cannot draw a story with {n_ops} ops and numbers up to {max_number}")


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
        story = _draw_story(rng, rng.randint(min_ops, max_ops), max_number)
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
