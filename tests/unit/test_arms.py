"""Matched arms (lemma.arms): the same rows per step in the same slots, differing only where the method differs."""

from __future__ import annotations

import pytest

from lemma.arms import arm_steps, matched_rows, paper_rows
from lemma.prompt_format import get_format
from lemma.records import Problem, SFTExample

FORMAT = "cot_meta_math"
N_ROWS, SHARE = 200, 0.3


def _problems(n: int = 30) -> list[Problem]:
    return [Problem(f"p{i}", "relations", f"Question {i}?", f"A = {i}\nThe answer is: {i}", str(i)) for i in range(n)]


def _trajectories(n: int = 12) -> list[SFTExample]:
    out = []
    for i in range(n):
        wrong = f"A = {i + 1}\n"
        response = f"{wrong}Wait, A is {i}.\nA = {i}\nThe answer is: {i}"
        out.append(SFTExample(f"t{i}", f"p{i}", "relations", f"Question {i}?", response, "injected",
                              strategy="fix", clean_response=f"A = {i}\nThe answer is: {i}",
                              masked_spans=[[0, len(wrong)]]))
    return out


@pytest.fixture(scope="module")
def arms() -> dict:
    problems, trajectories = _problems(), _trajectories()
    return {arm: matched_rows(arm, problems, trajectories, n_rows=N_ROWS, share=SHARE, seed=3, prompt_format=FORMAT)
            for arm in ("sft", "clean", "lemma")}


def test_every_arm_trains_the_same_number_of_rows(arms):
    assert {arm: len(got.rows) for arm, got in arms.items()} == {"sft": N_ROWS, "clean": N_ROWS, "lemma": N_ROWS}
    assert arms["lemma"].trajectories == round(SHARE * N_ROWS) == 60
    assert (arms["sft"].trajectories, arms["clean"].trajectories) == (0, 0)
    assert arms["lemma"].clean_solutions == N_ROWS - 60 and arms["clean"].clean_solutions == N_ROWS


def test_arms_differ_only_in_the_trajectory_slots(arms):
    sft, clean, lemma = (arms[a].rows for a in ("sft", "clean", "lemma"))
    differ = [i for i in range(N_ROWS) if lemma[i] != sft[i]]
    assert len(differ) == 60  # every other slot holds the same reference in the same position
    assert all(clean[i] == sft[i] for i in range(N_ROWS) if i not in differ)
    for i in differ:  # the clean twin answers the same question as the trajectory, without error and reflection
        assert clean[i][0] == lemma[i][0] and "Wait" in lemma[i][1] and "Wait" not in clean[i][1]
        assert lemma[i][1].strip().endswith(clean[i][1].strip().splitlines()[-1])


def test_the_wrong_line_mask_moves_into_the_completion(arms):
    separator = get_format(FORMAT).response_separator
    for prompt, completion, spans in arms["lemma"].rows:
        if spans:
            (start, end), = spans
            assert completion[start:end].startswith("A = ") and start == len(separator)


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_slots(arms):
    again = matched_rows("lemma", _problems(), _trajectories(), n_rows=N_ROWS, share=SHARE, seed=3,
                         prompt_format=FORMAT)
    other = matched_rows("lemma", _problems(), _trajectories(), n_rows=N_ROWS, share=SHARE, seed=4,
                         prompt_format=FORMAT)
    assert again.rows == arms["lemma"].rows and other.rows != again.rows


def test_equal_clean_solutions_trains_lemma_longer():
    assert arm_steps("lemma", 120, 0.3, "steps") == 120 and arm_steps("sft", 120, 0.3, "clean_solutions") == 120
    steps = arm_steps("lemma", 120, 0.3, "clean_solutions")
    assert steps == 172
    got = matched_rows("lemma", _problems(), _trajectories(), n_rows=steps * 32, share=0.3, seed=0,
                       prompt_format=FORMAT)
    assert got.clean_solutions >= 120 * 32 > steps * 32 * 0.7 - 32


def test_missing_inputs_are_explained():
    with pytest.raises(ValueError, match=r"arms=\[base,lemma\] build.trajectory_share=null"):
        matched_rows("sft", [], _trajectories(), n_rows=10, share=0.3, seed=0, prompt_format=FORMAT)
    with pytest.raises(ValueError, match="no trajectories"):
        matched_rows("lemma", _problems(), [], n_rows=10, share=0.3, seed=0, prompt_format=FORMAT)


def test_paper_sets_are_the_trajectories_and_their_twins():
    problems, trajectories = _problems(), _trajectories()
    lemma = paper_rows("lemma", problems, trajectories, prompt_format=FORMAT)
    clean = paper_rows("clean", problems, trajectories, prompt_format=FORMAT)
    sft = paper_rows("sft", problems, trajectories, prompt_format=FORMAT)
    assert (len(lemma.rows), lemma.trajectories, len(clean.rows), len(sft.rows)) == (12, 12, 12, 30)
    assert [r[0] for r in lemma.rows] == [r[0] for r in clean.rows]
