"""smooth: the teacher rewrites each verified trajectory with connective phrases so it reads as one solution.

Paper §3.4 (after Xi et al. 2024b, Qin et al. 2024). The original smooths only Fix & Continue by default and leaves
its output unset when a record has no valid solution (METHOD.md §3.8, §10.11); here smoothing is a per-strategy
switch, the answer is checked again, and a smoothing that breaks the answer keeps the verified unsmoothed trajectory
(counted) rather than losing the row.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from lemma.artifacts import Artifact
from lemma.pipeline import Stage, StageContext
from lemma.prompts import prompt_files
from lemma.records import Trajectory, read_jsonl, write_jsonl
from lemma.stage_text import kv
from lemma.stages import correct
from lemma.stages.problems import read_train
from lemma.teacher.base import SmoothRequest

TRAJECTORIES_FILE = "trajectories.jsonl"  # correct's, smoothed where asked; consumers call read_trajectories


def read_trajectories(artifact: Artifact) -> list[Trajectory]:
    """Every trajectory of the correct stage, in its order; `smoothed_text` set where the rewrite kept the answer."""
    return read_jsonl(artifact.file(TRAJECTORIES_FILE), Trajectory)


def summary(stats: dict[str, Any]) -> list[str]:
    """The report's data line for these stats: how many were sent, then every outcome count."""
    outcomes = {k: v for k, v in stats.items() if k not in ("trajectories", "asked")}
    return [f"- **smooth**: {stats['asked']} trajectories sent; {kv(outcomes)}."]


def run(ctx: StageContext) -> dict[str, Any]:
    problems = {p.id: p for p in read_train(ctx.input("problems"))}
    trajectories = correct.read_trajectories(ctx.input("correct"))
    wanted = {str(s) for s in ctx.cfg.correction.smooth}
    todo = [i for i, t in enumerate(trajectories) if t.strategy in wanted]
    outcomes = ctx.teacher.smooth([SmoothRequest(problems[trajectories[i].problem_id], trajectories[i].text)
                                   for i in todo])
    counts: Counter[str] = Counter(f"failed_{o.failure}" for o in outcomes if not o.ok)
    ok = [(i, o.value) for i, o in zip(todo, outcomes) if o.ok and o.value]
    verdicts = ctx.grader.grade([text for _, text in ok], [problems[trajectories[i].problem_id].gold for i, _ in ok])
    for (i, text), verdict in zip(ok, verdicts):
        if text == trajectories[i].text:  # a teacher that leaves the text as it is (the relations world's)
            counts["unchanged"] += 1
        elif verdict.correct:
            trajectories[i] = smoothed(trajectories[i], text, verdict.extracted)
            counts["smoothed"] += 1
        else:
            counts["answer_changed_kept_unsmoothed"] += 1
    write_jsonl(ctx.out / TRAJECTORIES_FILE, trajectories)
    return {"trajectories": len(trajectories), "asked": len(todo), **counts}


def smoothed(t: Trajectory, text: str, extracted: str | None) -> Trajectory:
    """A smoothed trajectory keeps its raw prefix and continuation for lineage; `text` is the rewrite."""
    return dataclasses.replace(t, smoothed_text=text, smoothed=True, extracted=extracted)


STAGE = Stage(name="smooth", run=run, needs=lambda cfg, arm: ("problems", "correct"), keys=("teacher", "correction.smooth"),
              files=lambda cfg: prompt_files(cfg, "smooth"), uses=("teacher",))
