"""correct: cut each flawed solution after its first wrong step and revise it (Fix & Continue, Fresh & Restart).

Paper §3.3-3.4, Figs. 14-15. The prefix is an exact character slice (lemma.steps) that includes the wrong step;
`correction.truncate=false` keeps the whole flawed solution instead (the paper's "w/o truncation" ablation, Table 11).
A revision is kept only when the answer it finally commits to, read from the continuation after the reflection and
not from the flawed prefix, equals the gold (METHOD.md §3.9). Checks the original lacks: leakage words and, for
Fresh & Restart, that the new solution is not the old one repeated.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from typing import Any

from lemma.artifacts import Artifact
from lemma.pipeline import Stage, StageContext
from lemma.prompts import prompt_files
from lemma.records import Attempt, Flawed, Problem, Trajectory, read_jsonl, write_jsonl
from lemma.stage_text import kv
from lemma.stages.locate import read_flawed
from lemma.stages.problems import read_train
from lemma.stages.sample import read_attempts
from lemma.steps import split_steps, truncate_after
from lemma.strategies import TITLES, Strategy
from lemma.taxonomy import ErrorType
from lemma.teacher.base import ReviseRequest

LEAKAGE = ("reference solution", "ground truth", "ground-truth", "previous attempt", "the reference")
TRAJECTORIES_FILE = "trajectories.jsonl"  # the verified revisions; consumers call read_trajectories


def read_trajectories(artifact: Artifact) -> list[Trajectory]:
    """Every verified revision, all strategies, unsmoothed."""
    return read_jsonl(artifact.file(TRAJECTORIES_FILE), Trajectory)


def summary(stats: dict[str, Any]) -> list[str]:
    """The report's data lines for these stats: one per correction strategy that ran."""
    lines = []
    for strategy, title in TITLES.items():
        if strategy in stats:
            st = stats[strategy]
            lines.append(f"- **correct / {title}**: {st['kept']} of {st['requested']} verified "
                         f"({st['distinct_reflections']} distinct reflection phrases); dropped: {kv(st['dropped'])}.")
    return lines


def run(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.cfg
    problems = {p.id: p for p in read_train(ctx.input("problems"))}
    flawed = read_flawed(ctx.input("locate"))
    correct_samples = correct_attempts(read_attempts(ctx.input("sample")))
    trajectories: list[Trajectory] = []
    stats: dict[str, Any] = {}
    for strategy in cfg.correction.strategies:
        kept, dropped = revise(ctx, str(strategy), flawed, problems, correct_samples)
        trajectories += kept
        stats[str(strategy)] = {"requested": len(flawed), "kept": len(kept), "dropped": dict(dropped),
                                "distinct_reflections": len({t.reflection for t in kept})}
    write_jsonl(ctx.out / TRAJECTORIES_FILE, trajectories)
    return {"trajectories": len(trajectories), "truncate": bool(cfg.correction.truncate), **stats}


def revise(ctx: StageContext, strategy: str, flawed: list[Flawed], problems: dict[str, Problem],
           correct_samples: dict[str, list[str]]) -> tuple[list[Trajectory], Counter[str]]:
    cfg = ctx.cfg
    requests = [ReviseRequest(problems[f.problem_id], prefix_of(f, problems[f.problem_id], cfg.correction.truncate),
                              ErrorType(f.error_type) if f.error_type else None,
                              model_aware_solution(cfg, f, problems[f.problem_id], correct_samples))
                for f in flawed]
    outcomes = ctx.teacher.revise(Strategy(strategy), requests)
    dropped: Counter[str] = Counter(o.failure for o in outcomes if not o.ok)
    candidates = [(f, r, o.value) for f, r, o in zip(flawed, requests, outcomes) if o.ok and o.value is not None]
    verdicts = ctx.grader.grade([rev.continuation for _, _, rev in candidates], [r.problem.gold for _, r, _ in candidates])
    kept = []
    for (f, req, rev), verdict in zip(candidates, verdicts):
        reason = rejection(rev.continuation, req.prefix, strategy, verdict)
        if reason:
            dropped[reason] += 1
            continue
        kept.append(Trajectory(id=f"{f.id}-{strategy}", flawed_id=f.id, problem_id=f.problem_id, source=f.source,
                               error_type=f.error_type, error_step=f.error_step, strategy=strategy, prefix=req.prefix,
                               continuation=rev.continuation, reflection=rev.reflection,
                               truncated=bool(cfg.correction.truncate), extracted=verdict.extracted, verified=True,
                               clean=rev.clean))
    return kept, dropped


def rejection(continuation: str, prefix: str, strategy: str, verdict: Any) -> str | None:
    if verdict.timed_out:
        return "grading_timeout"
    if not verdict.correct:
        return "wrong_final_answer" if verdict.extracted else "no_final_answer"
    lowered = continuation.lower()
    if any(word in lowered for word in LEAKAGE):
        return "leakage"
    if strategy == "fresh" and line_overlap(continuation, prefix) > 0.8:
        return "fresh_repeats_prefix"
    return None


def line_overlap(new: str, old: str) -> float:
    """Share of the continuation's lines that already appear in the prefix."""
    new_lines = [line.strip() for line in new.splitlines() if line.strip()]
    old_lines = {line.strip() for line in old.splitlines()}
    return sum(line in old_lines for line in new_lines) / max(1, len(new_lines))


def prefix_of(f: Flawed, problem: Problem, truncate: bool) -> str:
    if not truncate:
        return f.text
    return truncate_after(f.text, split_steps(f.text, problem.dataset), f.error_step)


def correct_attempts(attempts: list[Attempt]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for a in attempts:
        if a.correct:
            out[a.problem_id].append(a.text)
    return out


def model_aware_solution(cfg: Any, f: Flawed, problem: Problem, correct_samples: dict[str, list[str]]) -> str | None:
    """The original's F&R variant shows a random correct student sample, or the reference if there is none."""
    if str(cfg.correction.fresh_variant) != "model_aware":
        return None
    pool = correct_samples.get(f.problem_id) or [problem.reference]
    digest = hashlib.sha256(f"{cfg.correction.seed}:{f.id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).choice(pool)


STAGE = Stage(name="correct", run=run, needs=lambda cfg, arm: ("problems", "sample", "locate"),
              # correction.seed: the model-aware Fresh & Restart pick of a correct sample (model_aware_solution)
              keys=("teacher", "correction.strategies", "correction.fresh_variant", "correction.truncate",
                    "correction.seed"),
              version=2,
              files=lambda cfg: prompt_files(cfg, *(str(s) for s in cfg.correction.strategies)),
              uses=("teacher",))
