"""The built-in arith world: seeded, disjoint splits, right references, one step per line, enough variety."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from lemma.steps import split_steps, step_texts
from lemma.world.arith import (MAX_VALUE, Change, Computation, apply_op, evaluate, generate_split, make_world,
                               render, world_texts)

EQ = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")


@pytest.fixture(scope="module")
def world():
    return make_world(300, 100, seed=1234)


def test_deterministic_for_a_seed(world):
    again = make_world(300, 100, seed=1234)
    assert again == world
    other_train, _ = make_world(300, 100, seed=1235)
    assert [p.question for p in other_train] != [p.question for p in world[0]]


def test_splits_are_disjoint_and_well_formed(world):
    train, test = world
    assert len(train) == 300 and len(test) == 100
    assert not {p.question for p in train} & {p.question for p in test}
    assert [p.id for p in train[:2]] == ["arith-train-00000", "arith-train-00001"]
    assert test[7].id == "arith-test-00007"
    assert {p.dataset for p in train + test} == {"arith"}
    assert all(p.question.endswith("?") for p in train + test)


def test_references_are_right_and_match_the_computation(world):
    for p in world[0] + world[1]:
        json.dumps(p.meta)  # JSON-serialisable
        comp = Computation.from_meta(p.meta)
        lines = p.reference.split("\n")
        assert lines[-1] == f"The answer is: {p.gold}"
        assert int(p.gold) == comp.answer
        assert len(lines) == len(comp.ops) + 1
        for line, op in zip(lines, comp.ops):
            (a, sym, b, c), = EQ.findall(line)  # exactly one equation per step
            assert (int(a), sym, int(b), int(c)) == (op.a, op.op, op.b, op.result)
            assert apply_op(sym, int(a), int(b)) == int(c)
            assert 0 < op.result < MAX_VALUE
            for value, src in ((op.a, op.a_src), (op.b, op.b_src)):
                assert re.fullmatch(r"q:\w+|s:\d+", src)
                expected = comp.ops[int(src[2:]) - 1].result if src.startswith("s:") else comp.quantity(src).value
                assert value == expected


def test_every_question_number_is_a_quantity(world):
    for p in world[0][:100]:
        comp = Computation.from_meta(p.meta)
        digits = Counter(int(n) for n in re.findall(r"\d+", p.question))
        written = Counter(q.value for q in comp.quantities if q.word is None)
        assert digits == written


def test_reference_splits_into_one_step_per_line(world):
    for p in world[0] + world[1]:
        assert step_texts(p.reference, split_steps(p.reference, "arith")) == p.reference.split("\n")


def test_variety(world):
    train = world[0]
    assert len({p.question for p in train}) >= 200
    symbols = Counter(op["op"] for p in train for op in p.meta["ops"])
    assert set(symbols) == {"+", "-", "*", "/"} and min(symbols.values()) >= 20
    openings = {re.sub(r"\d+", "N", p.question.split(". ")[0].split(" ", 1)[1]) for p in train}
    assert len(openings) >= 30  # verbs, objects and containers vary, not only numbers
    assert any(q["word"] for p in train for q in p.meta["quantities"])  # counts written as words exist
    assert {len(p.meta["ops"]) for p in train} == {2, 3}


@pytest.mark.parametrize(("lo", "hi"), [(1, 1), (3, 3), (2, 4)])
def test_op_count_is_respected(lo, hi):
    problems = generate_split(40, seed=0, min_ops=lo, max_ops=hi, max_number=20, split="train")
    assert {len(p.meta["ops"]) for p in problems} <= set(range(lo, hi + 1))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="min_ops"):
        generate_split(3, seed=0, min_ops=3, max_ops=2, max_number=20, split="train")
    with pytest.raises(ValueError, match="max_number"):
        generate_split(3, seed=0, min_ops=2, max_ops=3, max_number=2, split="train")


def test_world_texts(world):
    texts = world_texts(world[0][:5])
    assert texts[:2] == [world[0][0].question, world[0][0].reference] and len(texts) == 10


def test_evaluate_carries_a_change_through(world):
    p = next(p for p in world[0] if len(p.meta["ops"]) == 3)
    comp = Computation.from_meta(p.meta)
    written = evaluate(comp, Change(results={1: comp.ops[0].result + 1}))
    assert written is not None and written[0][1].c == comp.ops[0].result + 1
    for _, eq in written[1:]:
        assert apply_op(eq.op, eq.a, eq.b) == eq.c
    assert render(comp, evaluate(comp) or [], comp.answer) == p.reference
    assert [i for i, _ in evaluate(comp, Change(stop=1)) or []] == [1]
