"""Metrics: pass@k against its formula, maj@k over grader-equivalent answers, averages, reflection detection/rates."""

from __future__ import annotations

import itertools
from pathlib import Path
from math import comb

import pytest

from lemma.metrics import (ReflectionSample, cluster_answers, ks_for, maj_at_k_table, majority_correct, pass_at_k,
                           pass_at_k_table, percent, self_correction, suite_averages)
from lemma.reflection import REFLECTION_PHRASES, find_reflections, split_first_attempt


def exact(a: list[str], b: list[str]) -> list[bool]:
    return [x == y for x, y in zip(a, b)]


@pytest.mark.parametrize("n,c,k", [(n, c, k) for n in range(1, 9) for c in range(n + 1) for k in range(1, n + 1)])
def test_pass_at_k_matches_the_combinatorial_formula(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)


def test_pass_at_k_by_enumeration_and_table():
    # pass@2 with 1 right of 3: the share of 2-subsets that hold the right one = 2/3
    samples = [True, False, False]
    subsets = list(itertools.combinations(samples, 2))
    assert pass_at_k(3, 1, 2) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
    table = pass_at_k_table([[True, False, False, False], [False] * 4], [1, 2, 4])
    assert table == {"1": 12.5, "2": 25.0, "4": 50.0}
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_ks_are_one_and_powers_of_two_up_to_n():
    assert ks_for(1) == [1] and ks_for(5) == [1, 2, 4] and ks_for(32) == [1, 2, 4, 8, 16, 32]


def test_percent_and_paper_average():
    assert percent([True, False, False]) == 33.3 and percent([]) is None
    columns = dict(zip(["gsm8k", "math", "asdiv", "deepmind_math", "mawps", "svamp", "college_math"],
                       [79.2, 38.3, 84.2, 39.2, 88.8, 82.6, 24.7]))  # LEMMA, LLaMA3-8B, paper Table 2
    per = {name: {"acc": acc, "role": "id" if name in ("gsm8k", "math") else "ood"} for name, acc in columns.items()}
    assert suite_averages(per) == {"average": 62.4, "average_id": 58.8, "average_ood": 63.9}


def test_majority_votes_clusters_not_strings():
    # raw strings: "7" wins 2:1:1:1; by equivalence the half-cluster wins 3:2
    labels = cluster_answers([["7", "0.5", "1/2", "7", "\\frac{1}{2}"]],
                             lambda a, b: [_half(x) == _half(y) for x, y in zip(a, b)])[0]
    assert labels[1] == labels[2] == labels[4] != labels[0] == labels[3]
    assert majority_correct(labels, [False, True, True, False, True], 5)
    assert not majority_correct(labels, [False, True, True, False, True], 1)


def _half(s: str) -> str:
    return "half" if s in ("0.5", "1/2", "\\frac{1}{2}") else s


def test_majority_ties_none_answers_and_k_prefix():
    labels = cluster_answers([["3", None, "4", "4", "3"]], exact)[0]
    assert labels[1] is None
    assert majority_correct(labels, [True, False, False, False, True], 5)  # 2:2 tie -> first seen ("3") wins
    assert not majority_correct(labels, [True, False, False, False, True], 4)  # first 4: "4" leads 2:1
    assert not majority_correct([None, None], [False, False], 2)


def test_maj_at_k_with_the_real_grader():
    from lemma.grading import Grader

    answers = [["\\frac{1}{2}", "0.5", "3", "1/2"], ["2", "x=5", "5", "5.0"], [None, None, "7", None]]
    correct = [[True, True, False, True], [False, True, True, True], [False, False, True, False]]
    with Grader(workers=1) as grader:
        table = maj_at_k_table(answers, correct, [1, 2, 4], grader.equal_answers)
        labels = cluster_answers(answers, grader.equal_answers)
    assert labels[0][0] == labels[0][1] == labels[0][3] != labels[0][2]
    assert labels[1][1] == labels[1][2] == labels[1][3] != labels[1][0]
    assert table == {"1": 33.3, "2": 33.3, "4": 100.0}  # k<4: item 2 has no vote yet, item 1 ties "2" first


# ------------------------------------------------------------------------------------------------ self-correction
@pytest.mark.parametrize("text,phrases", [
    ("3 + 4 = 8. Wait, 3 + 4 = 7. The answer is: 7", ["Wait"]),
    ("We wait 5 minutes, so the waiting time is 5. The answer is: 5", []),
    ("So x = 2.\nHmmm, let me double-check: 2 * 3 = 6. The answer is: 6", ["Hmmm"]),
    ("The total is 12. Let's try a different approach: 3 * 4 = 12.", ["Let's try a different approach"]),
    ("The total is 12. Let\u2019s try another approach: 3 * 4 = 12.", ["Let\u2019s try another approach"]),
    ("That gives 9. **Wait**, I misread it. Let me re-read the question.", ["Wait", "Let me re-"]),
    ("Actually, the price is 3. Actually it is 4.", ["Actually,"]),
    ("Alternatively we could add them.", ["Alternatively"]),
])
def test_reflection_phrases_at_sentence_starts_only(text, phrases):
    assert [p for _, p in find_reflections(text)] == phrases


def test_first_attempt_is_the_text_before_the_first_reflection():
    first, rest = split_first_attempt("3 + 4 = 8. The answer is: 8\nWait, 3 + 4 = 7. Hmm. The answer is: 7")
    assert first == "3 + 4 = 8. The answer is: 8\n" and rest.startswith("Wait, 3 + 4 = 7.")
    assert split_first_attempt("No doubts here. The answer is: 7") is None
    assert len(REFLECTION_PHRASES) == len(set(REFLECTION_PHRASES))


def test_self_correction_rates_on_handcrafted_responses():
    from lemma.grading import extract_answer

    gold = "7"
    responses = {
        "fixed": "3 + 4 = 8. The answer is: 8\nWait, 3 + 4 = 7. The answer is: 7",  # wrong -> right
        "broken": "3 + 4 = 7. The answer is: 7\nHmm, maybe 8. The answer is: 8",  # right -> wrong
        "confirmed": "3 + 4 = 7. The answer is: 7\nLet me verify: 7 - 4 = 3. The answer is: 7",  # right -> right
        "plain": "3 + 4 = 7. The answer is: 7",  # no reflection
    }
    samples = []
    for text in responses.values():
        split = split_first_attempt(text)
        final = extract_answer(text) == gold
        first = None if split is None else extract_answer(split[0]) == gold
        share = 0.0 if split is None else len(split[1]) / len(text)
        samples.append(ReflectionSample(split is not None, final, first, new_tokens=len(text.split()),
                                        reflection_share=share))
    stats = self_correction(samples)
    assert stats["reflect_rate"] == 0.75 and stats["reflecting"] == 3
    assert stats["wrong_to_right"] == pytest.approx(1 / 3, abs=1e-4)
    assert stats["right_to_wrong"] == pytest.approx(1 / 3, abs=1e-4)
    assert stats["mean_new_tokens_reflecting"] > stats["mean_new_tokens_plain"]
    assert 0 < stats["reflection_token_share"] < 1
    assert self_correction([ReflectionSample(False, True, None, 5)])["wrong_to_right"] is None


def test_every_teacher_transition_phrase_is_detected():
    """Every reflection opener our teachers are told to use, or the symbolic teacher writes, counts as one."""
    import re

    from lemma.prompts import __file__ as prompts_init
    from lemma.teacher import symbolic

    prompt = (Path(prompts_init).parent / "fix" / "default.md").read_text()
    examples = re.findall(r'^\s*- "(.+)"$', prompt, flags=re.MULTILINE)
    phrases = [*symbolic.FIX_PHRASES, *symbolic.FRESH_PHRASES, *examples]
    assert len(examples) >= 10
    missed = [p for p in phrases if not find_reflections("The sum is 12.\n" + p)]
    assert not missed
