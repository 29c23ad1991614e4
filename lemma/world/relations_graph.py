"""The `relations` world's problem as data: people, the graph they form, and its dependency orders.

The leaf of the world's modules (lemma.world.relations re-exports it): text (relations_text) and generation
(relations) build on it, and the symbolic teacher reads stored problems back through `Graph.from_meta`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass

WORLD = "relations-v1"
DATASET = "relations"
ANSWER_PREFIX = "The answer is: "
LINE_BREAK = "\n"

NAMES = ("Ann", "Ben", "Cara", "Dan", "Eva", "Finn", "Gia", "Hugo", "Ida", "Jack", "Kim", "Leo", "Mia", "Ned",
         "Olga", "Pete", "Rosa", "Sam", "Tess", "Ugo", "Vera", "Walt", "Yara", "Zoe")
OBJECTS = ("apples", "marbles", "stickers", "cookies", "pencils", "books", "shells", "stamps", "cards", "coins")
KINDS = ("more", "fewer", "twice", "half", "sum")
SYMBOL = {"more": "+", "fewer": "-", "twice": "*", "half": "/", "sum": "+"}


@dataclass(frozen=True)
class Person:
    """One quantity: a leaf (`kind="leaf"`, its value given) or a relation over `args` (one name, two for sum)."""
    name: str
    kind: str
    value: int
    args: tuple[str, ...] = ()
    k: int = 0  # the amount of `more` / `fewer`

    @property
    def is_leaf(self) -> bool:
        return self.kind == "leaf"


@dataclass(frozen=True)
class Graph:
    """The people of a problem (needed ones and distractors), the object they count and who is asked for."""
    people: tuple[Person, ...]
    target: str
    obj: str
    phrasing: str = "words"  # how the question states relations (see `sentence`)

    def __getitem__(self, name: str) -> Person:
        for p in self.people:
            if p.name == name:
                return p
        raise KeyError(name)

    def get(self, name: str) -> Person | None:
        return next((p for p in self.people if p.name == name), None)

    @property
    def answer(self) -> int:
        return self[self.target].value

    def needed(self) -> set[str]:
        """Everyone the target depends on, and the target."""
        out: set[str] = set()
        stack = [self.target]
        while stack:
            name = stack.pop()
            if name not in out:
                out.add(name)
                stack.extend(self[name].args)
        return out

    def depth(self, name: str | None = None) -> int:
        """Longest chain of relations below `name` (the target by default); a leaf has depth 0."""
        person = self[name or self.target]
        return 0 if person.is_leaf else 1 + max(self.depth(a) for a in person.args)

    def to_meta(self) -> dict:
        return {"world": WORLD, "target": self.target, "obj": self.obj, "phrasing": self.phrasing,
                "people": [{**asdict(p), "args": list(p.args)} for p in self.people]}

    @classmethod
    def from_meta(cls, meta: Mapping) -> Graph:
        people = tuple(Person(p["name"], p["kind"], int(p["value"]), tuple(p["args"]), int(p.get("k", 0)))
                       for p in meta["people"])
        return cls(people, meta["target"], meta["obj"], meta.get("phrasing", "words"))


# ------------------------------------------------------------------------------------------------------ orders
def plan_order(graph: Graph) -> list[str]:
    """The needed people from the asked one down, depth first, each listed once (its sentence names the next)."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        order.append(name)
        for arg in graph[name].args:
            visit(arg)

    visit(graph.target)
    return order


def reference_order(graph: Graph) -> list[str]:
    """The canonical order: depth-first from the target, operands in the order the relation names them."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for arg in graph[name].args:
            visit(arg)
        order.append(name)

    visit(graph.target)
    return order


def other_orders(graph: Graph, rng: random.Random, tries: int = 20) -> Iterator[list[str]]:
    """Valid dependency orders of the needed people that differ from the reference order (random topological sorts)."""
    needed = graph.needed()
    reference = reference_order(graph)
    seen = {tuple(reference)}
    for _ in range(tries):
        done: list[str] = []
        while len(done) < len(needed):
            ready = sorted(n for n in needed if n not in done and all(a in done for a in graph[n].args))
            done.append(rng.choice(ready))
        if tuple(done) not in seen:
            seen.add(tuple(done))
            yield done
