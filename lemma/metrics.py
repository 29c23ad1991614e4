"""Evaluation metrics: pass@1 accuracy, maj@k over grader-equivalent answers, unbiased pass@k, suite averages and
self-correction rates. Pure functions of verdicts; the grader enters only as an `equal(a, b)` callback.

* **Accuracy** is the paper's Pass@1 in percent with one decimal (METHOD.md §7). With n samples per problem it is the
  mean correctness over all samples, i.e. the unbiased pass@1 estimate.
* **maj@k** votes among the first k samples of a problem. Answers are clustered by *grader equivalence*, not raw
  strings (EVALUATION.md §6.3: "1/2", "0.5" and "\\frac{1}{2}" are one vote): distinct strings are placed in order of
  frequency, each joining the first existing cluster whose leader the grader calls equal (the leader plays gold), else
  founding a new cluster; equivalence is thereby made transitive. The largest cluster wins; ties go to the cluster
  whose first sample comes first. The vote is right when that first sample was graded right. Samples with no
  extracted answer do not vote; a problem with no votes counts as wrong.
* **pass@k** is the unbiased estimator of Chen et al. 2021: 1 - C(n-c, k) / C(n, k), averaged over problems.
* **k values**: 1 and the powers of two up to n (n=32 gives 1, 2, 4, 8, 16, 32), `ks_for`.
* **Averages** follow paper Table 2: the unweighted mean of the (one-decimal) benchmark columns; also over the ID and
  OOD columns separately.
* **Self-correction** (EVALUATION.md §6.3): see `self_correction`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

EqualFn = Callable[[list[str], list[str]], list[bool]]  # pairwise: equal(a, b)[i] <=> a[i] ~ b[i] (b plays gold)


def percent(flags: Sequence[bool]) -> float | None:
    """Mean of `flags` in percent, one decimal; None for no items."""
    return round(100.0 * sum(flags) / len(flags), 1) if flags else None


def ks_for(n: int) -> list[int]:
    """The documented k values for n samples: 1 and every power of two up to n."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return ks


# ---------------------------------------------------------------------------------------------------------- pass@k
def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with c correct out of n samples (Chen et al. 2021, numerically stable form)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def pass_at_k_table(correct: Sequence[Sequence[bool]], ks: Sequence[int]) -> dict[str, float | None]:
    """{"k": pass@k in percent} averaged over problems (each problem with its own n)."""
    out: dict[str, float | None] = {}
    for k in ks:
        vals = [pass_at_k(len(c), sum(c), k) for c in correct if len(c) >= k]
        out[str(k)] = round(100.0 * sum(vals) / len(vals), 1) if vals else None
    return out


# ----------------------------------------------------------------------------------------------------------- maj@k
def _distinct_by_frequency(answers: Sequence[str | None]) -> list[str]:
    stripped = [a.strip() for a in answers if a is not None and a.strip()]
    counts = Counter(stripped)
    first = {s: i for i, s in reversed(list(enumerate(stripped)))}
    return sorted(counts, key=lambda s: (-counts[s], first[s]))


def cluster_answers(answers: Sequence[Sequence[str | None]], equal: EqualFn) -> list[list[int | None]]:
    """Cluster label per sample (None: no answer), clustering each problem's answers by grader equivalence.

    Greedy leader clustering, batched across problems: round r places every problem's r-th most frequent distinct
    string, in one `equal` call against all of that problem's current leaders.
    """
    distinct = [_distinct_by_frequency(item) for item in answers]
    leaders: list[list[str]] = [[] for _ in answers]
    label: list[dict[str, int]] = [{} for _ in answers]
    for r in range(max((len(d) for d in distinct), default=0)):
        a: list[str] = []
        b: list[str] = []
        where: list[tuple[int, int]] = []
        for it, strings in enumerate(distinct):
            if r < len(strings):
                for li, lead in enumerate(leaders[it]):
                    a.append(strings[r])
                    b.append(lead)
                    where.append((it, li))
        matched: dict[int, int] = {}
        for (it, li), ok in zip(where, equal(a, b) if a else [], strict=True):
            if ok and it not in matched:
                matched[it] = li
        for it, strings in enumerate(distinct):
            if r < len(strings):
                if it not in matched:
                    matched[it] = len(leaders[it])
                    leaders[it].append(strings[r])
                label[it][strings[r]] = matched[it]
    return [[label[it][s.strip()] if s is not None and s.strip() else None for s in item]
            for it, item in enumerate(answers)]


def majority_correct(labels: Sequence[int | None], correct: Sequence[bool], k: int) -> bool:
    """Whether the majority cluster among the first k samples is right (see the module docstring for ties)."""
    votes = [(lab, i) for i, lab in enumerate(labels[:k]) if lab is not None]
    if not votes:
        return False
    counts = Counter(lab for lab, _ in votes)
    first = {lab: i for lab, i in reversed(votes)}
    winner = min(counts, key=lambda lab: (-counts[lab], first[lab]))
    return bool(correct[first[winner]])


def maj_at_k_table(answers: Sequence[Sequence[str | None]], correct: Sequence[Sequence[bool]], ks: Sequence[int],
                   equal: EqualFn) -> dict[str, float | None]:
    """{"k": maj@k in percent} over problems that have at least k samples."""
    labels = cluster_answers(answers, equal)
    out: dict[str, float | None] = {}
    for k in ks:
        flags = [majority_correct(lab, cor, k) for lab, cor in zip(labels, correct, strict=True) if len(lab) >= k]
        out[str(k)] = percent(flags)
    return out


# -------------------------------------------------------------------------------------------------------- averages
def suite_averages(per_benchmark: Mapping[str, Mapping[str, Any]], key: str = "acc") -> dict[str, float | None]:
    """average / average_id / average_ood: unweighted means of the benchmark columns (paper Table 2)."""
    def mean(role: str | None) -> float | None:
        vals = [m[key] for m in per_benchmark.values() if m.get(key) is not None and role in (None, m.get("role"))]
        return round(sum(vals) / len(vals), 1) if vals else None

    return {"average": mean(None), "average_id": mean("id"), "average_ood": mean("ood")}


# ------------------------------------------------------------------------------------------------- self-correction
@dataclass(frozen=True)
class ReflectionSample:
    """One graded response seen through its first reflection phrase (lemma.reflection)."""
    reflects: bool
    final_correct: bool
    first_correct: bool | None  # the answer stated before the first reflection; None when it does not reflect
    new_tokens: int
    reflection_share: float = 0.0  # share of the response from the first reflection phrase on (by characters)


def self_correction(samples: Sequence[ReflectionSample]) -> dict[str, float | int | None]:
    """Reflection rate and answer changes, as fractions in [0, 1] (None where undefined).

    reflect_rate: responses with at least one reflection phrase / all responses.
    wrong_to_right: reflecting responses whose first attempt was wrong (or stated no answer) and whose final answer is
    right / reflecting responses; right_to_wrong: the reverse. Token overhead: mean new tokens of reflecting and
    plain responses, and the mean share of a reflecting response spent from its first reflection on.
    """
    reflecting = [s for s in samples if s.reflects]
    plain = [s for s in samples if not s.reflects]
    n = len(reflecting)

    def frac(flags: list[bool], total: int) -> float | None:
        return round(sum(flags) / total, 4) if total else None

    def mean(values: list[float], digits: int = 2) -> float | None:
        return round(sum(values) / len(values), digits) if values else None

    fixed = [s.final_correct and not s.first_correct for s in reflecting]
    broke = [bool(s.first_correct) and not s.final_correct for s in reflecting]
    first = [bool(s.first_correct) if s.reflects else s.final_correct for s in samples]
    return {
        "reflect_rate": frac([s.reflects for s in samples], len(samples)),
        "reflecting": n,
        "wrong_to_right": frac(fixed, n),
        "right_to_wrong": frac(broke, n),
        "wrong_to_right_n": sum(fixed),
        "right_to_wrong_n": sum(broke),
        # the answer a response commits to before its first reflection (the final one when it never reflects)
        "first_attempt_acc": round(100 * sum(first) / len(samples), 1) if samples else None,
        "mean_new_tokens": mean([float(s.new_tokens) for s in samples]),
        "mean_new_tokens_reflecting": mean([float(s.new_tokens) for s in reflecting]),
        "mean_new_tokens_plain": mean([float(s.new_tokens) for s in plain]),
        "reflection_token_share": mean([s.reflection_share for s in reflecting], 4),
    }
