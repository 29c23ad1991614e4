"""classify: the teacher labels each wrong student sample with one of the 12 error types.

Paper §3.2 / Fig. 3. The original never aggregates the labels into a distribution (METHOD.md §3.2); we write it as
`distribution.json` and a bar chart, and the inject stage draws from it (`errors=analyzed`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from lemma.artifacts import Artifact, write_json
from lemma.pipeline import Stage, StageContext
from lemma.prompts import prompt_files
from lemma.records import Flawed, read_jsonl, write_jsonl
from lemma.stage_text import kv
from lemma.stages.problems import read_train
from lemma.stages.sample import read_attempts
from lemma.taxonomy import ErrorType, counts_to_distribution
from lemma.teacher.base import ClassifyRequest

LABELS_FILE = "labels.jsonl"  # the labelled wrong samples; consumers call read_labels
DISTRIBUTION_FILE, DISTRIBUTION_PLOT = "distribution.json", "distribution.png"


def read_labels(artifact: Artifact) -> list[Flawed]:
    """The student's wrong samples the teacher labelled, as self-made flawed solutions (source "self")."""
    return read_jsonl(artifact.file(LABELS_FILE), Flawed)


def read_distribution(artifact: Artifact) -> dict[str, Any]:
    """{"counts", "fractions", "total"}: the labels' error types, every type of the taxonomy present."""
    return json.loads(artifact.file(DISTRIBUTION_FILE).read_text())


def summary(stats: dict[str, Any]) -> list[str]:
    """The report's data line for these stats."""
    return [f"- **classify**: {stats['labelled']} of {stats['wrong_samples']} wrong samples labelled "
            f"({kv(stats['counts'])}); dropped: {kv(stats['dropped'])}."]


def run(ctx: StageContext) -> dict[str, Any]:
    problems = {p.id: p for p in read_train(ctx.input("problems"))}
    wrong = [a for a in read_attempts(ctx.input("sample")) if not a.correct]
    outcomes = ctx.teacher.classify([ClassifyRequest(problems[a.problem_id], a.text) for a in wrong])
    labelled: list[Flawed] = []
    dropped: Counter[str] = Counter()
    for attempt, outcome in zip(wrong, outcomes):
        if not outcome.ok or outcome.value is None:
            dropped[outcome.failure or "no_label"] += 1
        elif outcome.value.verdict != "incorrect" or outcome.value.error_type is None:
            dropped[f"teacher_verdict_{outcome.value.verdict}"] += 1
        else:
            labelled.append(Flawed(id=attempt.id, problem_id=attempt.problem_id, source="self", text=attempt.text,
                                   extracted=attempt.extracted, error_type=outcome.value.error_type.value,
                                   error_step=outcome.value.error_step))
    write_jsonl(ctx.out / LABELS_FILE, labelled)
    counts = Counter(ErrorType(f.error_type) for f in labelled)
    write_distribution(ctx.out, counts)
    return {"wrong_samples": len(wrong), "labelled": len(labelled), "dropped": dict(dropped),
            "counts": {t.abbr: n for t, n in sorted(counts.items())}}


def write_distribution(out: Path, counts: Counter[ErrorType]) -> None:
    dist = counts_to_distribution(counts)
    write_json(out / DISTRIBUTION_FILE, {
        "counts": {t.value: counts[t] for t in ErrorType},
        "fractions": {t.value: round(dist.get(t, 0.0), 6) for t in ErrorType},
        "total": sum(counts.values()),
    })
    plot_distribution(out / DISTRIBUTION_PLOT, counts, "Error types of the student's wrong samples")


def plot_distribution(path: Path, counts: Counter[ErrorType], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total = max(1, sum(counts.values()))
    types = list(ErrorType)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    bars = ax.bar([t.abbr for t in types], [100 * counts.get(t, 0) / total for t in types], color="#4C72B0")
    ax.bar_label(bars, labels=[str(counts.get(t, 0)) for t in types], fontsize=8)
    ax.set_ylabel("% of labelled errors")
    ax.set_title(f"{title} (n={sum(counts.values())})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


STAGE = Stage(name="classify", run=run, needs=lambda cfg, arm: ("problems", "sample"), keys=("teacher",),
              files=lambda cfg: prompt_files(cfg, "classify"), uses=("teacher",))
