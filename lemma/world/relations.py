"""The `relations` world: named quantities linked by dependencies, where the difficulty is lookup and ordering.

Why this world is the default: a small model that is asked to do arithmetic fails on number facts it has not seen,
and a correction such as "2 + 9 is 11, not 12" needs exactly the fact that failed. Here the arithmetic is easy (small
values, one operation per line) and the hard part is the one LEMMA is about: reading the question right and doing
the steps in an order in which every input is known. These are mistakes a model can see in its own lines (after
"Physics of Language Models, Part 2.2", whose iGSM problems are built the same way).

A problem is a small DAG of people who each own some number of one kind of object:
- a *leaf* states a value ("Ben has 6 apples."),
- a *relation* defines a person from one or two others: `more`/`fewer` by k, `twice`, `half`, or `sum` of two.
Sentences are shuffled; 0-2 distractor people are not needed for the answer. The reference writes one line per
needed person in a dependency order, leaves first, then the answer line:

    Ben = 6
    Tom = Ben - 3 = 6 - 3 = 3
    Zoe = Tom + Ben = 3 + 6 = 9
    The answer is: 9

`Graph` is stored in `Problem.meta`, so the symbolic teacher can check every line of any solution by rule.

This module draws problems; the graph (lemma.world.relations_graph) and its text (lemma.world.relations_text) are
re-exported here, so callers import the world from one place.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lemma.records import Problem
from lemma.world.relations_graph import (ANSWER_PREFIX, DATASET, KINDS, LINE_BREAK, NAMES, OBJECTS, SYMBOL, WORLD,
                                         Graph, Person, other_orders, plan_order, reference_order)
from lemma.world.relations_text import (compute_line, line, question_text, relation_terms, sentence, solution,
                                        vocabulary_texts)

__all__ = ["ANSWER_PREFIX", "DATASET", "KINDS", "LINE_BREAK", "NAMES", "OBJECTS", "SYMBOL", "WORLD", "Graph", "Person",
           "WorldSpec", "compute_line", "draw_problem", "generate_split", "line", "make_world", "other_orders",
           "plan_order", "question_text", "reference_order", "relation_terms", "sentence", "solution",
           "vocabulary_texts"]


@dataclass(frozen=True)
class WorldSpec:
    min_depth: int = 2
    max_depth: int = 4
    min_people: int = 3
    max_people: int = 6
    max_distractors: int = 2
    max_leaf: int = 20  # leaf values 1..max_leaf
    max_k: int = 9  # `more` / `fewer` amounts 1..max_k
    max_value: int = 60  # every value stays within 0..max_value
    names: int = len(NAMES)  # how many of NAMES the world uses (a smaller cast is learnt faster)
    style: str = "compact"  # how a solution line reads: compact | restate (see `line`)
    phrasing: str = "words"  # how the question states a relation: words | formula (see `sentence`)


class _Dead(Exception):
    """The numbers drawn do not fit; draw again."""


def _relation(rng: random.Random, name: str, args: tuple[str, ...], values: Mapping[str, int], spec: WorldSpec,
              kinds: Sequence[str]) -> Person:
    """A relation of one of `kinds` over `args` whose value stays in range (or _Dead)."""
    options = list(kinds)
    rng.shuffle(options)
    for kind in options:
        x = values[args[0]]
        if kind == "sum":
            value, k = x + values[args[1]], 0
        elif kind == "more":
            k = rng.randint(1, spec.max_k)
            value = x + k
        elif kind == "fewer":
            k = rng.randint(1, min(spec.max_k, x)) if x >= 1 else 0
            value = x - k
        elif kind == "twice":
            value, k = 2 * x, 0
        else:  # half
            value, k = (x // 2, 0) if x % 2 == 0 else (-1, 0)
        if k >= 0 and 0 <= value <= spec.max_value and (kind not in ("more", "fewer") or k >= 1):
            return Person(name, kind, value, args[: 2 if kind == "sum" else 1], k)
    raise _Dead


def _draw_graph(rng: random.Random, spec: WorldSpec) -> Graph:
    """A chain from the target down to a leaf, extra needed people hung on it, then distractors."""
    depth = rng.randint(spec.min_depth, spec.max_depth)
    n_needed = rng.randint(max(depth + 1, spec.min_people), max(depth + 1, spec.max_people))
    names = rng.sample(NAMES[: spec.names], n_needed + spec.max_distractors)
    level = {names[i]: i for i in range(depth + 1)}  # chain: names[0] is a leaf, names[depth] the target
    extras = names[depth + 1:n_needed]
    for name in extras:  # each extra sits below some chain person, so it is needed
        level[name] = rng.randint(0, depth - 1)
    by_level: dict[int, list[str]] = {}
    for name, lv in level.items():
        by_level.setdefault(lv, []).append(name)
    values: dict[str, int] = {}
    people: dict[str, Person] = {}
    for lv in range(depth + 1):
        for name in by_level.get(lv, []):
            if lv == 0:
                people[name] = Person(name, "leaf", rng.randint(1, spec.max_leaf))
            else:
                first = names[lv - 1] if name == names[lv] else rng.choice(by_level[lv - 1])
                people[name] = _needed_relation(rng, name, lv, first, people, values, spec, level)
            values[name] = people[name].value
    people = _attach_extras(rng, people, extras, level, values, spec)
    graph = Graph(tuple(people.values()), names[depth], rng.choice(OBJECTS), spec.phrasing)
    if graph.needed() != set(people):
        raise _Dead
    return _add_distractors(rng, graph, names[n_needed:n_needed + rng.randint(0, spec.max_distractors)], spec)


def _needed_relation(rng: random.Random, name: str, lv: int, first: str, people: Mapping[str, Person],
                     values: Mapping[str, int], spec: WorldSpec, level: Mapping[str, int]) -> Person:
    """A relation whose first operand sits one level below, so the person's depth is exactly `lv`."""
    lower = [n for n in people if level[n] < lv and n != first]
    if lower and rng.random() < 0.35:
        return _relation(rng, name, (first, rng.choice(lower)), values, spec, ["sum"])
    return _relation(rng, name, (first,), values, spec, ["more", "fewer", "twice", "half"])


def _attach_extras(rng: random.Random, people: dict[str, Person], extras: Sequence[str], level: Mapping[str, int],
                   values: dict[str, int], spec: WorldSpec) -> dict[str, Person]:
    """Make every extra person needed: a higher person that does not use it yet becomes `sum` with it."""
    for extra in extras:
        if any(extra in p.args for p in people.values()):
            continue
        hosts = [p for p in people.values() if level[p.name] > level[extra] and not p.is_leaf
                 and len(p.args) == 1 and p.args[0] != extra]
        if not hosts:
            raise _Dead
        host = rng.choice(hosts)
        people[host.name] = _relation(rng, host.name, (host.args[0], extra), values, spec, ["sum"])
        values[host.name] = people[host.name].value
        people = _recompute(people, values, spec)
    return people


def _recompute(people: dict[str, Person], values: dict[str, int], spec: WorldSpec) -> dict[str, Person]:
    """Values after a change below: recomputed in dependency order; _Dead when one leaves the range."""
    out: dict[str, Person] = {}

    def value(name: str) -> int:
        if name in out:
            return out[name].value
        p = people[name]
        if p.is_leaf:
            out[name] = p
        else:
            xs = [value(a) for a in p.args]
            v = {"more": lambda: xs[0] + p.k, "fewer": lambda: xs[0] - p.k, "twice": lambda: 2 * xs[0],
                 "half": lambda: xs[0] // 2 if xs[0] % 2 == 0 else -1, "sum": lambda: xs[0] + xs[1]}[p.kind]()
            if not 0 <= v <= spec.max_value:
                raise _Dead
            out[name] = Person(p.name, p.kind, v, p.args, p.k)
        values[name] = out[name].value
        return out[name].value

    for name in people:
        value(name)
    return {name: out[name] for name in people}


def _add_distractors(rng: random.Random, graph: Graph, names: Sequence[str], spec: WorldSpec) -> Graph:
    """People nobody needs: a leaf, or a relation over someone already there (so they look like the rest)."""
    people = list(graph.people)
    values = {p.name: p.value for p in people}
    for name in names:
        if rng.random() < 0.4:
            person = Person(name, "leaf", rng.randint(1, spec.max_leaf))
        else:
            person = _relation(rng, name, (rng.choice(list(values)),), values, spec,
                               ["more", "fewer", "twice", "half"])
        people.append(person)
        values[name] = person.value
    return Graph(tuple(people), graph.target, graph.obj, graph.phrasing)


def draw_problem(rng: random.Random, spec: WorldSpec, pid: str) -> Problem:
    for _ in range(1000):
        try:
            graph = _draw_graph(rng, spec)
        except _Dead:
            continue
        question = question_text(graph, rng)
        reference = solution(graph, reference_order(graph), spec.style)
        return Problem(id=pid, dataset=DATASET, question=question, reference=reference, gold=str(graph.answer),
                       meta={**graph.to_meta(), "depth": graph.depth()})
    raise RuntimeError(f"cannot draw a relations problem with {spec}")


def _split_seed(seed: int, split: str) -> int:
    """A per-split seed from a stable hash (never Python's salted hash())."""
    return int.from_bytes(hashlib.sha256(f"relations|{seed}|{split}".encode()).digest()[:8], "big")


def generate_split(n: int, *, seed: int, split: str, spec: WorldSpec,
                   exclude: frozenset[str] = frozenset()) -> list[Problem]:
    """`n` problems with distinct questions (none in `exclude`), ids "relations-<split>-00000"..., deterministic."""
    rng = random.Random(_split_seed(seed, split))
    seen, problems = set(exclude), []
    for _ in range(50 * n + 1000):
        if len(problems) == n:
            return problems
        problem = draw_problem(rng, spec, f"{DATASET}-{split}-{len(problems):05d}")
        if problem.question not in seen:
            seen.add(problem.question)
            problems.append(problem)
    raise RuntimeError(f"only {len(problems)} distinct {split} questions could be drawn, {n} asked")


def make_world(sizes: Mapping[str, int], *, seed: int, spec: WorldSpec) -> dict[str, list[Problem]]:
    """Disjoint splits by question text, drawn in the order given (test first, so train never changes test)."""
    taken: set[str] = set()
    out: dict[str, list[Problem]] = {}
    for split, n in sizes.items():
        out[split] = generate_split(n, seed=seed, split=split, spec=spec, exclude=frozenset(taken))
        taken.update(p.question for p in out[split])
    return out
