"""Paired comparisons of arms across seeds: the statistics of the toy-science sweep (sweeps/toy_science.yaml).

Every job of such a sweep is one (seed, variant) run whose report holds, per arm, the mechanism figures and the
correctness of every test problem. Arms of one seed are evaluated on the same test problems, so they are compared
pairwise: the difference of two arms' accuracy per seed, its mean over seeds, and a 95% interval from a bootstrap
that resamples the test problems of every seed independently (the seeds' worlds differ, so problems are not shared
across seeds). The success criteria of the world issue were fixed before measuring; `criteria` checks them and says
which held, which failed and which are unresolved (an ordering whose interval holds zero).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lemma.stages.report import read_per_problem, read_report

BOOTSTRAP = 2000
MECHANISM = ("acc", "sampled_acc", "first_attempt_acc", "reflect_rate", "wrong_to_right_n", "right_to_wrong_n")
LABELS = {"acc": "greedy pass@1", "sampled_acc": "pass@1 T=0.7", "first_attempt_acc": "first attempt",
          "reflect_rate": "reflects %", "wrong_to_right_n": "wrong→right", "right_to_wrong_n": "right→wrong"}


@dataclass
class Arm:
    """One row of the table: an arm (sft, clean, base) or a LEMMA variant, with one entry per seed."""
    name: str
    figures: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))  # figure -> seed -> value
    correct: dict[str, dict[str, bool]] = field(default_factory=dict)  # seed -> problem id -> greedy verdict


def load(job_dirs: list[Path]) -> dict[str, Arm]:
    """Arms from every finished job: `base`, `sft`, `clean` once per seed, and `lemma` once per variant."""
    arms: dict[str, Arm] = {}
    for job in job_dirs:
        report, per_problem = _read(read_report, job), _read(read_per_problem, job)
        if report is None or per_problem is None:
            continue
        seed, variant = str(per_problem["seed"]), per_problem.get("variant") or "lemma"
        for arm, mech in (report.get("mechanism") or {}).items():
            name = variant if arm == "lemma" else arm
            row = arms.setdefault(name, Arm(name))
            if seed in row.correct:
                continue  # base, sft and clean are the same artifacts in every job of a seed
            for key in MECHANISM:
                if mech.get(key) is not None:
                    value = float(mech[key]) * (100 if key == "reflect_rate" else 1)
                    row.figures[key][seed] = value
            row.correct[seed] = {pid: bool(ok) for pid, ok in per_problem["arms"].get(arm, {}).items()}
    return arms


@dataclass(frozen=True)
class Difference:
    """Accuracy of `a` minus `b` (points), per seed and averaged, with a 95% bootstrap interval."""
    a: str
    b: str
    per_seed: dict[str, float]
    mean: float
    low: float
    high: float

    @property
    def resolved(self) -> bool:
        return self.low > 0 or self.high < 0

    def describe(self) -> str:
        seeds = ", ".join(f"{d:+.1f}" for d in self.per_seed.values())
        return f"{self.a} − {self.b}: {self.mean:+.1f} [{self.low:+.1f}, {self.high:+.1f}] (seeds {seeds})"


def difference(a: Arm, b: Arm, rng_seed: int = 0, replicates: int = BOOTSTRAP) -> Difference | None:
    """Paired difference over the seeds both arms have, on the problems both were graded on."""
    seeds = sorted(set(a.correct) & set(b.correct))
    if not seeds:
        return None
    # per problem: +1 where only a is right, -1 where only b is, 0 otherwise (the paired difference)
    deltas = {s: [int(a.correct[s][p]) - int(b.correct[s][p]) for p in sorted(set(a.correct[s]) & set(b.correct[s]))]
              for s in seeds}
    per_seed = {s: 100 * statistics.fmean(deltas[s]) for s in seeds if deltas[s]}
    means = _bootstrap_means(deltas, list(per_seed), np.random.default_rng(rng_seed), replicates)
    return Difference(a.name, b.name, per_seed, statistics.fmean(per_seed.values()),
                      float(means[int(0.025 * replicates)]), float(means[int(0.975 * replicates) - 1]))


def _bootstrap_means(deltas: dict[str, list[int]], seeds: list[str], rng: np.random.Generator,
                     replicates: int) -> np.ndarray:
    """Sorted means over seeds of the resampled per-seed differences (points): every seed's problems are resampled
    independently, `replicates` times, in one vectorised draw per seed."""
    total = np.zeros(replicates)
    for s in seeds:
        d = np.asarray(deltas[s], dtype=np.int64)
        picks = rng.integers(0, len(d), size=(replicates, len(d)))
        total += 100 * d[picks].sum(axis=1) / len(d)
    return np.sort(total / len(seeds))


def _stat(values: dict[str, float]) -> tuple[float | None, float | None]:
    xs = list(values.values())
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


ORDER = ("base", "sft", "clean", "mix", "fix_only", "fresh_only", "own_errors", "no_truncation", "masked")


def ordered(arms: dict[str, Arm]) -> list[Arm]:
    return sorted(arms.values(), key=lambda a: (ORDER.index(a.name) if a.name in ORDER else len(ORDER), a.name))


def table(arms: dict[str, Arm]) -> list[str]:
    """Mean ± std over seeds of every mechanism figure, and the paired differences to sft and clean."""
    head = ["arm", "seeds", *(LABELS[k] for k in MECHANISM), "vs sft", "vs clean"]
    rows = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for arm in ordered(arms):
        cells = [arm.name, str(len(arm.correct))]
        for key in MECHANISM:
            mean, std = _stat(arm.figures.get(key, {}))
            cells.append("-" if mean is None else f"{mean:.1f} ± {std:.1f}")
        for ref in ("sft", "clean"):
            d = difference(arm, arms[ref]) if ref in arms and arm.name not in (ref, "base") else None
            cells.append(f"{d.mean:+.1f} [{d.low:+.1f}, {d.high:+.1f}]" if d else "-")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def criteria(arms: dict[str, Arm]) -> list[str]:
    """The success criteria of the world issue, each with its verdict (fixed before measuring)."""
    out = []
    lemma = arms.get("mix")
    if lemma is None:
        return ["- the `mix` arm (LEMMA) has no results yet"]
    for ref, need in (("sft", 5.0), ("clean", 3.0)):
        d = difference(lemma, arms[ref]) if ref in arms else None
        if d is None:
            out.append(f"- LEMMA vs {ref}: no results")
            continue
        ok = d.mean >= need and all(v > 0 for v in d.per_seed.values()) and d.low > 0
        out.append(f"- LEMMA beats {ref} by >= {need:g} points, every seed positive, interval above 0: "
                   f"{'met' if ok else 'NOT met'} ({d.describe()})")
    reflect, _ = _stat(lemma.figures.get("reflect_rate", {}))
    fixed, _ = _stat(lemma.figures.get("wrong_to_right_n", {}))
    broke, _ = _stat(lemma.figures.get("right_to_wrong_n", {}))
    first, _ = _stat(lemma.figures.get("first_attempt_acc", {}))
    clean_acc = _stat(arms["clean"].figures.get("acc", {}))[0] if "clean" in arms else None
    if reflect is not None:
        out.append(f"- reflection rate between 5% and 40%: {'met' if 5 <= reflect <= 40 else 'NOT met'} "
                   f"({reflect:.1f}%)")
    if fixed is not None and broke is not None:
        ok = fixed >= 3 * broke and fixed > 0
        out.append(f"- wrong→right at least 3x right→wrong: {'met' if ok else 'NOT met'} ({fixed:.1f} vs {broke:.1f} "
                   "per seed)")
    if first is not None and clean_acc is not None:
        out.append(f"- first-attempt accuracy at most 3 points below clean: "
                   f"{'met' if first >= clean_acc - 3 else 'NOT met'} ({first:.1f} vs clean {clean_acc:.1f})")
    for a, b, relation in (("mix", "fix_only", ">="), ("mix", "own_errors", ">"), ("no_truncation", "fix_only", "<")):
        if a in arms and b in arms and (d := difference(arms[a], arms[b])) is not None:
            holds = d.mean >= 0 if relation == ">=" else (d.mean > 0 if relation == ">" else d.mean < 0)
            verdict = ("holds" if holds else "reversed") + ("" if d.resolved else ", unresolved (interval holds 0)")
            out.append(f"- {a} {relation} {b}: {verdict} ({d.describe()})")
    return out


def write(sweep_dir: Path, job_dirs: list[Path]) -> str | None:
    """paired.md (table, differences, criteria) and paired.png in the sweep folder; None when no job has arms."""
    arms = load(job_dirs)
    if not arms:
        return None
    text = "\n".join(["# Toy science: paired comparison over seeds", "",
                      "Mean ± std over seeds; differences in accuracy points, mean [95% bootstrap interval].", "",
                      *table(arms), "", "## Success criteria (fixed before measuring)", "", *criteria(arms)]) + "\n"
    (sweep_dir / "paired.md").write_text(text)
    plot(arms, sweep_dir / "paired.png")
    return text


def plot(arms: dict[str, Arm], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ordered(arms)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows)), 3.6))
    for i, key in enumerate(("acc", "sampled_acc")):
        stats = [_stat(a.figures.get(key, {})) for a in rows]
        xs = [j + 0.38 * i for j in range(len(rows))]
        ax.bar(xs, [m or 0 for m, _ in stats], 0.38, yerr=[s or 0 for _, s in stats], capsize=3, label=LABELS[key])
        for a, x in zip(rows, xs):  # every seed, so a reader sees the spread, not only its summary
            ax.scatter([x] * len(a.figures.get(key, {})), list(a.figures.get(key, {}).values()), s=8, color="black",
                       zorder=3)
    ax.set_xticks([j + 0.19 for j in range(len(rows))], [a.name for a in rows], rotation=20)
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _read(reader: Callable[[Path], Any], job: Path) -> Any:
    """What the report's reader finds in a job's folder, or None for an unfinished (or half-written) job."""
    try:
        return reader(job)
    except (OSError, json.JSONDecodeError):
        return None
