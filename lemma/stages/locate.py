"""locate: the teacher finds the first wrong step of every flawed solution, self-made and injected.

Paper §3.3. Steps are numbered by `lemma.steps.split_steps`, which keeps character spans, so the correct stage cuts
exactly where the teacher pointed. The original never located injected errors, so they could not be truncated
(METHOD.md §3.4 "Gap"); here they are, and the injector's own step claim is kept as a fidelity cross-check.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from lemma.artifacts import Artifact
from lemma.pipeline import Stage, StageContext
from lemma.prompts import prompt_files
from lemma.records import Flawed, read_jsonl, write_jsonl
from lemma.stage_text import kv
from lemma.stages.classify import read_labels
from lemma.stages.inject import read_injected
from lemma.stages.problems import read_train
from lemma.steps import split_steps
from lemma.teacher.base import LocateRequest

FLAWED_FILE = "flawed.jsonl"  # the located flawed solutions; consumers call read_flawed


def read_flawed(artifact: Artifact) -> list[Flawed]:
    """Self-made and injected flawed solutions with their first wrong step (`error_step`) and `num_steps`."""
    return read_jsonl(artifact.file(FLAWED_FILE), Flawed)


def summary(stats: dict[str, Any]) -> list[str]:
    """The report's data line for these stats."""
    return [f"- **locate**: {stats['located']} of {stats['flawed']} flawed solutions located "
            f"({kv(stats['by_source'])}); injector step agreement {kv(stats['injected_step_agreement'])}; "
            f"dropped: {kv(stats['dropped'])}."]


def run(ctx: StageContext) -> dict[str, Any]:
    problems = {p.id: p for p in read_train(ctx.input("problems"))}
    flawed = read_labels(ctx.input("classify"))
    flawed += read_injected(ctx.input("inject"))
    outcomes = ctx.teacher.locate([LocateRequest(problems[f.problem_id], f.text) for f in flawed])
    located: list[Flawed] = []
    dropped: Counter[str] = Counter()
    agree = Counter()
    for f, outcome in zip(flawed, outcomes):
        n_steps = len(split_steps(f.text, problems[f.problem_id].dataset))
        if not outcome.ok or outcome.value is None:
            dropped[outcome.failure or "no_location"] += 1
        elif outcome.value.verdict != "incorrect" or outcome.value.step is None:
            dropped[f"teacher_verdict_{outcome.value.verdict}"] += 1
        elif not 1 <= outcome.value.step <= n_steps:
            dropped["step_out_of_range"] += 1
        else:
            f.error_step, f.num_steps = outcome.value.step, n_steps
            located.append(f)
            if f.source == "injected" and f.intended_step is not None:
                agree["match" if f.intended_step == f.error_step else "differ"] += 1
    write_jsonl(ctx.out / FLAWED_FILE, located)
    by_source = Counter(f.source for f in located)
    return {"flawed": len(flawed), "located": len(located), "by_source": dict(by_source), "dropped": dict(dropped),
            "injected_step_agreement": dict(agree)}


STAGE = Stage(name="locate", run=run, needs=lambda cfg, arm: ("problems", "classify", "inject"), keys=("teacher",),
              files=lambda cfg: prompt_files(cfg, "locate"), uses=("teacher",))
