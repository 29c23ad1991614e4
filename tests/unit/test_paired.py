"""Paired differences across seeds (lemma.paired): the figures the toy-science table prints."""

from __future__ import annotations

from lemma.paired import Arm, difference


def _arm(name: str, verdicts: dict[str, list[bool]]) -> Arm:
    return Arm(name, correct={seed: {f"p{i}": v for i, v in enumerate(vs)} for seed, vs in verdicts.items()})


def test_a_sure_difference_has_a_tight_interval_and_per_seed_values():
    a = _arm("lemma", {"0": [True] * 10, "1": [True] * 5 + [False] * 5})
    b = _arm("sft", {"0": [False] * 10, "1": [False] * 10})
    d = difference(a, b, replicates=200)
    assert d.per_seed == {"0": 100.0, "1": 50.0} and d.mean == 75.0
    assert d.low <= 75.0 <= d.high and d.low >= 50.0 and d.resolved


def test_equal_arms_differ_by_zero_and_an_unresolved_interval_holds_zero():
    same = [True, False] * 20
    d = difference(_arm("a", {"0": same}), _arm("b", {"0": same}), replicates=200)
    assert (d.mean, d.low, d.high, d.resolved) == (0.0, 0.0, 0.0, False)
    noisy = difference(_arm("a", {"0": [True, False] * 20}), _arm("b", {"0": [False, True] * 20}), replicates=500)
    assert noisy.mean == 0.0 and noisy.low < 0 < noisy.high and not noisy.resolved


def test_only_shared_seeds_and_problems_are_compared():
    a = _arm("a", {"0": [True, True], "1": [True]})
    b = _arm("b", {"0": [False]})
    d = difference(a, b, replicates=50)
    assert d.per_seed == {"0": 100.0}
    assert difference(a, _arm("c", {"9": [True]})) is None
