"""train: supervised fine-tuning of the base model, once per arm (nodes `train.sft`, `train.clean`, `train.lemma`).

What each arm trains on is `lemma.arms`: references (sft), the trajectories of `build` (lemma), and their
error-free twins (clean, the control that isolates the errors and reflections); with `build.trajectory_share` the
three are matched row for row. Every arm starts from the same base model with the same step budget
(train.max_steps, else train.epochs), the same prompt format as evaluation (lemma.prompt_format; the original trained
with `Human:/Assistant:` and evaluated with cot-meta-math, METHOD.md §10 item 13), loss on the response and its EOS
only (b6), and, with `build.mask_error_lines`, no loss on the wrong step of a trajectory.

The stage is the driver of DESIGN.md §6: it writes job.yaml into the artifact, checks memory (b4) and launches the
worker as a child process; checkpoints live in ctx.work_dir(), derived from the artifact key, so rerunning the same
command after a crash resumes (b1). The artifact holds model/ (HF format, reload-checked), metrics.json,
train_log.jsonl and job.yaml.
"""

from __future__ import annotations

import json
from typing import Any

from omegaconf import OmegaConf

from lemma.arms import ArmRows, arm_steps, matched_rows, paper_rows
from lemma.artifacts import Artifact
from lemma.model import MODEL_DIR, model_path
from lemma.pipeline import Stage, StageContext
from lemma.prompt_format import get_format
from lemma.records import Problem
from lemma.stages.build import SFT_FILE, read_sft
from lemma.stages.problems import read_train

# What lemma.training writes (worker.METRICS_FILE, worker.LOG_FILE) and copies into the artifact; named here, not
# imported, because the worker imports torch. tests/unit/test_artifact_readers.py holds them equal.
METRICS_FILE, LOG_FILE = "metrics.json", "train_log.jsonl"
BUDGET_KEYS = ("trained_tokens", "steps", "clean_solutions_seen", "trajectory_rows")


def read_metrics(artifact: Artifact) -> dict[str, Any]:
    """The training run's metrics (loss, steps, tokens, data statistics) of a train or tiny base artifact."""
    return json.loads(artifact.file(METRICS_FILE).read_text())


def read_train_log(artifact: Artifact) -> list[dict[str, Any]]:
    """One row per logged optimizer step (loss, lr, grad_norm, tokens_per_s, ...), in step order."""
    return [json.loads(line) for line in artifact.file(LOG_FILE).read_text().splitlines() if line.strip()]


def budget(stats: dict[str, Any]) -> dict[str, Any]:
    """What an arm trained on, from its stats: the report compares arms at this budget (None where unknown)."""
    return {k: stats.get(k) for k in BUDGET_KEYS}


def reference_pairs(problems: list[Problem], prompt_format: str) -> list[tuple[str, str]]:
    """(prompt, completion) from the train problems' reference solutions: the base model's warm-up data."""
    fmt = get_format(prompt_format)
    return [fmt.sft_pair(p.question, p.reference) for p in problems]


def arm_rows(ctx: StageContext) -> ArmRows:
    cfg, arm = ctx.cfg, str(ctx.arm)
    problems = read_train(ctx.input("problems")) if "problems" in ctx.inputs else []
    examples = read_sft(ctx.input("build")) if "build" in ctx.inputs else []
    fmt = str(cfg.model.prompt_format)
    share = cfg.build.trajectory_share
    if share is not None:
        n_rows = arm_max_steps(ctx) * int(cfg.train.global_batch)
        got = matched_rows(arm, problems, examples, n_rows=n_rows, share=float(share), seed=int(cfg.build.seed),
                           prompt_format=fmt)
    else:
        got = paper_rows(arm, problems, examples, prompt_format=fmt)
    if not got.rows:
        raise ValueError(f"train.{arm}: no rows to train on (data={cfg.data.name}); "
                         + ("the data has no train problems with references: drop the arm from `arms`"
                            if arm == "sft" else f"build's {SFT_FILE} is empty"))
    return got


def arm_max_steps(ctx: StageContext) -> int:
    """The arm's optimizer steps: train.max_steps, or more for lemma at equal clean solutions (build.lemma_budget)."""
    cfg = ctx.cfg
    if cfg.build.trajectory_share is None:
        return int(cfg.train.max_steps) if cfg.train.max_steps is not None else 0
    budget = str(cfg.build.lemma_budget) if ctx.arm == "lemma" else "steps"  # keyed for train.lemma only
    return arm_steps(str(ctx.arm), int(cfg.train.max_steps), float(cfg.build.trajectory_share), budget)


def _arm_train_config(ctx: StageContext) -> Any:
    """cfg.train, with max_steps raised where the arm's budget says so (None: cfg.train as it is)."""
    steps, configured = arm_max_steps(ctx), ctx.cfg.train.max_steps
    if configured is None or steps == int(configured):
        return None
    train = OmegaConf.to_container(ctx.cfg.train, resolve=True, enum_to_str=True)
    return OmegaConf.create({**train, "max_steps": steps})


def train_model(ctx: StageContext, pairs: list[tuple[str, str]], base_model: str, run_name: str,
                train_cfg: Any = None) -> dict[str, Any]:
    """Write rows and job, pre-flight, launch, copy logs; shared by `train` and the tiny `base` warm-up."""
    from lemma.training import launch, preflight
    from lemma.training.data import write_rows
    from lemma.training.job import from_config

    work = ctx.work_dir()
    rows = work / "rows.jsonl"
    write_rows(rows, pairs)
    cfg = ctx.cfg
    job = from_config(train_cfg if train_cfg is not None else cfg.train, cfg.model, model_path=base_model,
                      data_path=rows, output_dir=ctx.out / MODEL_DIR, checkpoint_dir=work, run_name=run_name,
                      report_to="none")  # one W&B run per job: lemma.tracking logs train_log.jsonl into it
    estimate = preflight.check(job, float(cfg.model.params_b), cfg.model.path or cfg.model.name)
    tracker = ctx.services.tracker  # training curves reach the tracker live, every train.log_every steps
    on_log = (lambda row: tracker.log_train_step(ctx.node, row)) if tracker is not None else None
    metrics = launch.run_job(job, ctx.out, on_log=on_log)
    launch.copy_logs(job, ctx.out)
    if estimate is not None:
        metrics["memory_estimate_gb"] = round(estimate.total_gb, 1)
    (ctx.out / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    return metrics


def run(ctx: StageContext) -> dict[str, Any]:
    got = arm_rows(ctx)
    base = model_path(ctx.input("base"))
    metrics = train_model(ctx, got.rows, base, run_name=f"{ctx.node}-{ctx.key}", train_cfg=_arm_train_config(ctx))
    ctx.log.info("%s: %d examples (%d trajectories), %d steps, final loss %.4f, %.0f tokens/s", ctx.node,
                 metrics["examples"], got.trajectories, metrics["steps"], metrics["final_loss"], metrics["tokens_per_s"])
    return {"arm": ctx.arm, "rows": len(got.rows), "trajectory_rows": got.trajectories,
            "clean_solutions_seen": got.clean_solutions, "base_model": base, **_flat(metrics)}


def _flat(metrics: dict[str, Any]) -> dict[str, Any]:
    data = metrics.get("data", {})
    metrics = {**metrics, "trained_tokens": data.get("trained_tokens")}
    keep = ("final_loss", "steps", "real_tokens", "trained_tokens", "tokens_per_s", "padding_share", "train_seconds", "num_params",
            "examples", "resumed_from_step", "world_size", "backend", "zero_stage", "memory_estimate_gb")
    return {**{k: metrics[k] for k in keep if k in metrics},
            "dropped_too_long": data.get("dropped_too_long", 0), "mean_length": data.get("mean_length")}


def _needs(cfg: Any, arm: str | None) -> tuple[str, ...]:
    if arm == "sft":
        return ("problems", "base")
    if arm in ("clean", "lemma"):
        return ("problems", "base", "build")
    raise ValueError(f"train has the nodes train.sft, train.clean and train.lemma, not {arm!r}")


STAGE = Stage(name="train", run=run, needs=_needs,
              keys=("train", "model.prompt_format", "build.trajectory_share", "build.seed"),
              arm_keys={"lemma": ("build.lemma_budget",)},
              version=2,
              uses=("trainer",))
