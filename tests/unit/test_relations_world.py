"""The relations world and its symbolic teacher: references are right, every injected error is found again where it
was planted and with its type, revisions end right, and the closed tokenizer covers every text without splitting."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lemma.model.tiny import closed_texts
from lemma.model.vocab import closed_vocabulary, pieces, unknown_pieces, word_tokenizer
from lemma.prompt_format import get_format
from lemma.steps import split_steps, truncate_after
from lemma.taxonomy import ErrorType as E
from lemma.teacher.symbolic import SymbolicTeacher
from lemma.teacher.symbolic.relations_check import check_solution, lines_so_far_right
from lemma.teacher.symbolic.relations_revise import (FRESH_PHRASE, MAX_NUMBER, PLANNERS, fix_continue, fresh_restart,
                                                     inject_error)
from lemma.teacher.base import InjectRequest
from lemma.world.relations import Graph, WorldSpec, generate_split, make_world, reference_order

SPECS = [WorldSpec(), WorldSpec(min_depth=2, max_depth=5, max_people=6, max_distractors=2),
         WorldSpec(min_depth=2, max_depth=3, max_people=4, max_distractors=1, max_leaf=9, max_k=5, max_value=30)]


@pytest.fixture(scope="module", params=range(len(SPECS)), ids=["default", "deep", "small"])
def problems(request):
    return generate_split(150, seed=request.param, split="t", spec=SPECS[request.param])


def test_every_reference_is_right_and_has_one_line_per_needed_person(problems):
    for p in problems:
        graph = Graph.from_meta(p.meta)
        assert check_solution(graph, p.reference).verdict == "correct", p.reference
        lines = p.reference.splitlines()
        assert len(lines) == len(graph.needed()) + 1
        assert lines[-1] == f"The answer is: {p.gold}"
        assert int(p.gold) == graph.answer


def test_shape_follows_the_spec():
    spec = SPECS[1]
    probs = generate_split(300, seed=3, split="t", spec=spec)
    depths = Counter(p.meta["depth"] for p in probs)
    assert set(depths) <= set(range(spec.min_depth, spec.max_depth + 1)) and len(depths) >= 3
    for p in probs:
        graph = Graph.from_meta(p.meta)
        values = [q.value for q in graph.people]
        assert all(0 <= v <= spec.max_value for v in values)
        assert len(graph.people) - len(graph.needed()) <= spec.max_distractors
        assert len(graph.needed()) <= max(spec.max_people, spec.max_depth + 1)


def test_splits_are_disjoint_and_deterministic():
    a = make_world({"test": 200, "dev": 100, "train": 400}, seed=5, spec=SPECS[0])
    b = make_world({"test": 200, "dev": 100, "train": 400}, seed=5, spec=SPECS[0])
    assert [p.question for p in a["train"]] == [p.question for p in b["train"]]
    questions = [set(p.question for p in a[s]) for s in ("test", "dev", "train")]
    assert not (questions[0] & questions[1]) and not (questions[0] & questions[2]) and not (questions[1] & questions[2])
    bigger = make_world({"test": 200, "dev": 100, "train": 800}, seed=5, spec=SPECS[0])
    assert [p.question for p in bigger["test"]] == [p.question for p in a["test"]]  # train size never moves test
    other = make_world({"test": 200}, seed=6, spec=SPECS[0])
    assert [p.question for p in other["test"]] != [p.question for p in a["test"]]


@pytest.mark.parametrize("etype", sorted(PLANNERS, key=lambda t: t.value))
def test_injected_errors_change_the_answer_and_are_found_at_their_line(problems, etype):
    made = 0
    for p in problems:
        graph = Graph.from_meta(p.meta)
        injection = inject_error(graph, etype, random.Random(p.id))
        if injection is None:
            continue
        made += 1
        found = check_solution(graph, injection.text)
        assert found.verdict == "incorrect", injection.text
        assert (found.error_type, found.step) == (etype, injection.intended_step), (injection.text, found)
        answer = injection.text.splitlines()[-1].rsplit(" ", 1)[-1]
        assert int(answer) != graph.answer
    assert made >= len(problems) * 0.75, f"{etype}: only {made} of {len(problems)} problems took this error"


def test_the_teacher_classifies_and_locates_what_it_injected():
    problems = generate_split(60, seed=9, split="t", spec=SPECS[0])
    teacher = SymbolicTeacher(seed=1, world="relations")
    requests = [InjectRequest(p, t, 0) for p in problems for t in sorted(PLANNERS, key=lambda t: t.value)]
    for request, outcome in zip(requests, teacher.inject(requests)):
        if not outcome.ok:
            continue
        from lemma.teacher.base import ClassifyRequest, LocateRequest

        label = teacher.classify([ClassifyRequest(request.problem, outcome.value.text)])[0].value
        where = teacher.locate([LocateRequest(request.problem, outcome.value.text)])[0].value
        assert label.error_type is request.error_type
        assert label.error_step == where.step == outcome.value.intended_step


@pytest.mark.parametrize("etype", sorted(PLANNERS, key=lambda t: t.value))
def test_fix_and_continue_keeps_the_prefix_reflects_briefly_and_ends_right(problems, etype):
    for p in problems[:60]:
        graph = Graph.from_meta(p.meta)
        rng = random.Random(p.id)
        injection = inject_error(graph, etype, rng)
        if injection is None:
            continue
        prefix = truncate_after(injection.text, split_steps(injection.text, "relations"), injection.intended_step)
        revision = fix_continue(graph, prefix, rng)
        assert revision is not None
        assert revision.continuation.startswith("Wait,") and len(revision.reflection.split()) <= 12
        trajectory = prefix + "\n" + revision.continuation
        assert check_solution(graph, trajectory).verdict == "correct", trajectory
        assert check_solution(graph, revision.clean).verdict == "correct", revision.clean
        assert "Wait" not in revision.clean
        assert not lines_so_far_right(graph, prefix)  # the first attempt holds the error


def test_fresh_and_restart_solves_again_in_another_order_when_there_is_one(problems):
    changed = 0
    for p in problems[:80]:
        graph = Graph.from_meta(p.meta)
        revision = fresh_restart(graph, random.Random(p.id))
        assert revision.continuation.startswith(FRESH_PHRASE)
        assert check_solution(graph, revision.clean).verdict == "correct"
        changed += revision.clean != p.reference
    assert changed >= 20


def test_checker_types_of_hand_written_mistakes():
    p = generate_split(1, seed=0, split="x", spec=SPECS[0])[0]
    graph = Graph.from_meta(p.meta)
    order = reference_order(graph)
    first = graph[order[0]]
    stranger = next(n for n in ("Zoe", "Yara", "Walt", "Vera") if graph.get(n) is None)
    assert check_solution(graph, f"{stranger} = 3\nThe answer is: 1").error_type is E.HA
    assert check_solution(graph, f"{first.name} = {first.value + 1}\nThe answer is: 1").error_type is E.CV
    assert check_solution(graph, "blah blah\nThe answer is: 1").error_type is E.NO
    assert check_solution(graph, "").error_type is E.NO
    assert check_solution(graph, f"{p.reference.splitlines()[0]}\nThe answer is: {graph.answer + 1}").error_type is E.QM


def test_closed_tokenizer_covers_every_text_of_the_world_and_teacher():
    tok = word_tokenizer(closed_vocabulary(closed_texts("relations", MAX_NUMBER, "cot_meta_math")))
    fmt = get_format("cot_meta_math")
    texts = []
    for spec_i, spec in enumerate(SPECS):
        for p in generate_split(60, seed=spec_i + 20, split="v", spec=spec):
            graph = Graph.from_meta(p.meta)
            texts += [fmt.render(p.question) + fmt.response_separator + p.reference]
            for etype in PLANNERS:
                rng = random.Random(f"{p.id}{etype}")
                inj = inject_error(graph, etype, rng)
                if inj is not None:
                    prefix = truncate_after(inj.text, split_steps(inj.text, "relations"), inj.intended_step)
                    rev = fix_continue(graph, prefix, rng)
                    texts += [inj.text, prefix + "\n" + rev.continuation]
            texts.append(fresh_restart(graph, random.Random(p.id)).continuation)
    missing = Counter(piece for text in texts for piece in unknown_pieces(tok, text))
    assert not missing, f"pieces outside the closed vocabulary: {missing.most_common(10)}"
    for text in texts[:50]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert len(ids) == len(pieces(text)) and tok.unk_token_id not in ids
        assert tok.decode(ids) == text  # byte-exact round trip
    for number in ("0", "7", "60", str(MAX_NUMBER)):
        assert len(tok(f" {number}", add_special_tokens=False)["input_ids"]) == 1
    assert len(tok(" Wait, Ben is not known yet.", add_special_tokens=False)["input_ids"]) == 8


def test_words_outside_the_world_are_unknown_not_split():
    tok = word_tokenizer(closed_vocabulary(closed_texts("relations", MAX_NUMBER, "cot_meta_math")))
    assert unknown_pieces(tok, "Ben has 6 bananas.") == ["Ġbananas"]
    assert unknown_pieces(tok, f"Ben = {MAX_NUMBER + 1}") == [f"Ġ{MAX_NUMBER + 1}"]
