"""The arith world's story machine: an opening, running events and a closing, each adding ops to a `Computation`.

Every event draws its numbers and writes its sentence and reference line together, so a story's question and
solution always agree; a draw whose numbers do not fit (`_Dead`) is drawn again (lemma.world.arith).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from lemma.records import Problem
from lemma.world.arith_computation import MAX_VALUE, Computation, Op, Quantity, apply_op, evaluate, render

_PEOPLE = (("Tom", "he"), ("Anna", "she"), ("Ben", "he"), ("Mia", "she"), ("Leo", "he"), ("Emma", "she"),
           ("Sam", "he"), ("Lily", "she"), ("Max", "he"), ("Zoe", "she"), ("Jack", "he"), ("Nora", "she"),
           ("Omar", "he"), ("Rosa", "she"), ("Ivan", "he"), ("Maya", "she"), ("Carlos", "he"), ("Grace", "she"),
           ("Noah", "he"), ("Ella", "she"))
_OBJECTS = ("apples", "marbles", "stickers", "cookies", "pencils", "books", "eggs", "flowers", "cards", "shells",
            "candies", "oranges", "stamps", "balloons", "cupcakes", "beads", "rocks", "muffins", "crayons", "toy cars")
_CONTAINERS = (("boxes", "box"), ("bags", "bag"), ("packs", "pack"), ("jars", "jar"), ("baskets", "basket"),
               ("crates", "crate"))


class _Dead(Exception):
    """The numbers drawn do not fit (negative, inexact, zero or too large): draw the story again."""


class Story:
    """One story being drawn: its cast and object, and the sentences, quantities and ops so far."""

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


def _open_has(s: Story) -> None:
    s.cur = s.q("start", s.num(4, 99))
    s.sentences.append(f"{s.name} has {s.cur[0]} {s.obj}.")


def _open_boxes(s: Story) -> None:
    n, per = s.q("boxes", s.num(2, 9)), s.q(f"per_{s.box1}", s.num(2, 99))
    s.sentences.append(f"{s.name} buys {n[0]} {s.box} of {s.obj}. Each {s.box1} holds {per[0]} {s.obj}.")
    s.cur = s.op(n, per, "*", f"{s.name} buys {{eq}} {s.obj}.", f"the number of {s.obj} {s.name} buys")
    s.question = f"How many {s.obj} does {s.name} buy?"


def _open_two_days(s: Story) -> None:
    a, b = s.q("monday", s.num(2, 99)), s.q("tuesday", s.num(2, 99))
    s.sentences.append(f"{s.name} collects {a[0]} {s.obj} on Monday and {b[0]} {s.obj} on Tuesday.")
    s.cur = s.op(a, b, "+", f"{s.name} collects {{eq}} {s.obj} in total.",
                 f"the number of {s.obj} {s.name} collects on the two days")
    s.question = f"How many {s.obj} does {s.name} collect in total?"


def _open_dozen(s: Story) -> None:
    n, dozen = s.q("boxes", s.num(2, 9)), s.q("dozen", 12, "a dozen")
    s.sentences.append(f"{s.name} buys {n[0]} {s.box} of {s.obj}. Each {s.box1} holds a dozen {s.obj}.")
    s.cur = s.op(n, dozen, "*", f"{s.name} buys {{eq}} {s.obj}.", f"the number of {s.obj} {s.name} buys")
    s.question = f"How many {s.obj} does {s.name} buy?"


def _open_days(s: Story) -> None:
    per = s.q("per_day", s.num(2, 99))
    days, word, span = s.rng.choice(((7, "a week", "every day for a week"),
                                     (2, "the weekend", "on each day of the weekend")))
    d = s.q("days", days, word)
    s.sentences.append(f"{s.name} collects {per[0]} {s.obj} {span}.")
    when = "in a week" if days == 7 else "over the weekend"
    s.cur = s.op(per, d, "*", f"{s.cap} collects {{eq}} {s.obj} {when}.",
                 f"the number of {s.obj} {s.name} collects {when}")
    s.question = f"How many {s.obj} does {s.name} collect {when}?"


def _ev_more(s: Story) -> None:
    b = s.q("more", s.num(2, 99))
    s.sentences.append(s.rng.choice((f"Then {s.pron} buys {b[0]} more {s.obj}.",
                                     f"{s.friend} gives {s.them} {b[0]} more {s.obj}.",
                                     f"Later {s.pron} finds {b[0]} more {s.obj}.")))
    s.cur = s.op(s.cur, b, "+", f"Now {s.pron} has {{eq}} {s.obj}.",
                 f"the number of {s.obj} {s.name} has after getting {b[0]} more")
    s.question = f"How many {s.obj} does {s.name} have now?"


def _ev_less(s: Story) -> None:
    b = s.q("less", s.num(1, s.cur[0] - 1))
    verb, gerund = s.rng.choice(((f"gives {b[0]} of them to {s.friend}", f"giving {b[0]} to {s.friend}"),
                                 (f"loses {b[0]} of them", f"losing {b[0]}"),
                                 (f"sells {b[0]} of them", f"selling {b[0]}"),
                                 (f"uses {b[0]} of them", f"using {b[0]}")))
    s.sentences.append(f"{s.cap} {verb}.")
    s.cur = s.op(s.cur, b, "-", f"{s.cap} has {{eq}} {s.obj} left.",
                 f"the number of {s.obj} {s.name} has after {gerund}")
    s.question = f"How many {s.obj} does {s.name} have left?"


def _divisor(s: Story, hi: int) -> int:
    options = [d for d in range(2, min(hi, s.max) + 1) if s.cur[0] % d == 0 and d < s.cur[0]]
    if not options:
        raise _Dead
    return s.rng.choice(options)


def _close_share(s: Story) -> None:
    d = s.q("friends", _divisor(s, 10))
    s.sentences.append(f"{s.cap} shares them equally among {d[0]} friends.")
    s.cur = s.op(s.cur, d, "/", f"Each friend gets {{eq}} {s.obj}.", f"the number of {s.obj} each friend gets")
    s.question = f"How many {s.obj} does each friend get?"


def _close_bags(s: Story) -> None:
    d = s.q(f"per_{s.box2}", _divisor(s, 25))
    s.sentences.append(f"{s.cap} puts them into {s.box2} with {d[0]} {s.obj} in each.")
    s.cur = s.op(s.cur, d, "/", f"{s.cap} fills {{eq}} {s.box2}.", f"the number of {s.box2} {s.name} fills")
    s.question = f"How many {s.box2} does {s.pron} fill?"


def _close_sell(s: Story) -> None:
    price = s.q("price", s.num(2, (MAX_VALUE - 1) // s.cur[0]))
    s.sentences.append(f"{s.cap} sells all of them for {price[0]} dollars each.")
    s.cur = s.op(s.cur, price, "*", f"{s.cap} makes {{eq}} dollars.", f"the money {s.name} makes")
    s.question = f"How many dollars does {s.pron} make?"


def _close_sell_spend(s: Story) -> None:
    _close_sell(s)
    spent = s.q("spent", s.num(1, s.cur[0] - 1))
    s.sentences.append(f"{s.cap} then spends {spent[0]} dollars on lunch.")
    s.cur = s.op(s.cur, spent, "-", f"{s.cap} has {{eq}} dollars left.", f"the money {s.name} has left after lunch")
    s.question = f"How many dollars does {s.pron} have left?"


def _close_compare(s: Story) -> None:
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


def _close_together(s: Story) -> None:
    mine = s.cur
    _close_compare(s)
    s.cur = s.op(mine, s.cur, "+", f"Together they have {{eq}} {s.obj}.",
                 f"the number of {s.obj} {s.name} and {s.friend} have together")
    s.question = f"How many {s.obj} do {s.name} and {s.friend} have together?"


# (event, ops it adds, weight)
_OPENINGS: tuple[tuple[Callable[[Story], None], int, int], ...] = (
    (_open_has, 0, 3), (_open_boxes, 1, 3), (_open_two_days, 1, 2), (_open_dozen, 1, 1), (_open_days, 1, 2))
_RUNNING: tuple[Callable[[Story], None], ...] = (_ev_more, _ev_less)
_CLOSINGS: tuple[tuple[Callable[[Story], None] | None, int, int], ...] = (
    (None, 0, 2), (_close_share, 1, 2), (_close_bags, 1, 1), (_close_sell, 1, 1), (_close_compare, 1, 1),
    (_close_sell_spend, 2, 1), (_close_together, 2, 1))


def _pick(rng: random.Random, options: list[tuple[Any, int, int]]) -> tuple[Any, int, int]:
    return rng.choices(options, weights=[w for _, _, w in options])[0]


def draw_story(rng: random.Random, n_ops: int, max_number: int) -> Story:
    """One story with exactly `n_ops` ops; redrawn until its numbers fit."""
    for _ in range(1000):
        story = Story(rng, max_number)
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
