"""How the `relations` world writes: the question's sentences and the solution's lines (lemma.world.relations).

The question and the reference are rendered from the same `Person`, so what a line computes is exactly what its
sentence says; `vocabulary_texts` lists every word the world can write, for the closed tokenizer.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from lemma.world.relations_graph import (ANSWER_PREFIX, KINDS, LINE_BREAK, NAMES, OBJECTS, SYMBOL, Graph, Person,
                                         plan_order)


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


def question_text(graph: Graph, rng: random.Random) -> str:
    sentences = [sentence(p, graph.obj, graph.phrasing) for p in graph.people]
    rng.shuffle(sentences)
    return " ".join([*sentences, f"How many {graph.obj} does {graph.target} have?"])


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
