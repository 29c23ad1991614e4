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
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass

from lemma.records import Problem

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


# --------------------------------------------------------------------------------------------------------- text
def sentence(person: Person, obj: str, phrasing: str = "words") -> str:
    """The question's sentence that defines `person`.

    words: "Mia has 2 more apples than Tom."; formula: "Mia has Tom + 2 apples." (the relation as the solution
    line writes it, so reading it is a copy and the difficulty left is the order of the lines).
    """
    a = person.args
    if phrasing == "formula":
        if person.is_leaf:
            return f"{person.name} has {person.value} {obj}."
        return f"{person.name} has {' '.join(relation_terms(person))} {obj}."
    return {
        "leaf": lambda: f"{person.name} has {person.value} {obj}.",
        "more": lambda: f"{person.name} has {person.k} more {obj} than {a[0]}.",
        "fewer": lambda: f"{person.name} has {person.k} fewer {obj} than {a[0]}.",
        "twice": lambda: f"{person.name} has twice as many {obj} as {a[0]}.",
        "half": lambda: f"{person.name} has half as many {obj} as {a[0]}.",
        "sum": lambda: f"{person.name} has as many {obj} as {a[0]} and {a[1]} together.",
    }[person.kind]()


def relation_terms(person: Person, values: Mapping[str, int] | None = None) -> tuple[str, str, str]:
    """(left operand, operator, right operand) of a relation, by name, or by value when `values` is given."""
    v = (lambda n: str(values[n])) if values is not None else (lambda n: n)
    a = person.args
    if person.kind in ("more", "fewer"):
        return v(a[0]), SYMBOL[person.kind], str(person.k)
    if person.kind == "twice":
        return "2", "*", v(a[0])
    if person.kind == "half":
        return v(a[0]), "/", "2"
    if person.kind == "sum":
        return v(a[0]), "+", v(a[1])
    raise ValueError(f"{person.name} is a leaf, not a relation")


def line(person: Person, values: Mapping[str, int], obj: str = "", style: str = "compact") -> str:
    """The solution line of `person`, with operand values taken from `values` (the ones written earlier).

    compact: `Tom = Ben - 3 = 6 - 3 = 3`; restate: `Tom has 3 fewer apples than Ben, so Tom = 6 - 3 = 3`.
    """
    numbers = relation_terms(person, values) if not person.is_leaf else None
    if style == "restate":
        said = sentence(person, obj)[:-1]
        if person.is_leaf:
            return f"{said}, so {person.name} = {person.value}"
        return f"{said}, so {person.name} = {' '.join(numbers)} = {person.value}"
    if person.is_leaf:
        return f"{person.name} = {person.value}"
    return f"{person.name} = {' '.join(relation_terms(person))} = {' '.join(numbers)} = {person.value}"


def solution(graph: Graph, order: Sequence[str], style: str = "compact") -> str:
    """The lines of `order` (a dependency order of the needed people), then the answer line.

    plan: first the question's sentences of the needed people, from the asked person down (each one names the
    next), then one value line per person in `order`: `Tom = 6 - 3 = 3`.
    """
    values = {p.name: p.value for p in graph.people}
    if style == "plan":
        listed = [sentence(graph[n], graph.obj) for n in plan_order(graph)]
        computed = [compute_line(graph[n], values) for n in order]
        return "\n".join([*listed, *computed, f"{ANSWER_PREFIX}{graph.answer}"])
    lines = [line(graph[n], values, graph.obj, style) for n in order]
    return LINE_BREAK.join([*lines, f"{ANSWER_PREFIX}{graph.answer}"])


def compute_line(person: Person, values: Mapping[str, int]) -> str:
    if person.is_leaf:
        return f"{person.name} = {person.value}"
    return f"{person.name} = {' '.join(relation_terms(person, values))} = {person.value}"


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


def question_text(graph: Graph, rng: random.Random) -> str:
    sentences = [sentence(p, graph.obj, graph.phrasing) for p in graph.people]
    rng.shuffle(sentences)
    return " ".join([*sentences, f"How many {graph.obj} does {graph.target} have?"])


# ---------------------------------------------------------------------------------------------------- generation
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
    names = rng.sample(NAMES, n_needed + spec.max_distractors)
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


def vocabulary_texts(max_number: int) -> list[str]:
    """Texts holding every word this world can write, each where it can stand (line start or after a space).

    The closed tokenizer (lemma.model.vocab) is built from these, not from sampled problems, so the vocabulary is the
    same for every seed and split, and a test can prove that nothing the world writes falls outside it.
    """
    numbers = [str(i) for i in range(max_number + 1)]
    texts = [" ".join(NAMES), "\n".join(["", *NAMES]), " ".join(numbers), "\n".join(["", *numbers]),
             f"{ANSWER_PREFIX}0", "\n".join(["", *(f"{n} = {s} 2" for n in NAMES[:1] for s in "+-*/")])]
    for obj in OBJECTS:
        a, b, c = NAMES[:3]
        texts += [sentence(Person(a, "leaf", 1), obj), *(sentence(Person(a, kind, 4, (b, c), 1), obj)
                                                        for kind in KINDS),
                  f"How many {obj} does {a} have?"]
    return texts
