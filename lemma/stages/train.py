"""train: supervised fine-tuning of the base model, once per arm (nodes `train.sft` and `train.lemma`).

- `train.sft`, the paper's "SFT" baseline: the train problems' reference solutions.
- `train.lemma`: the error -> reflection -> correction trajectories of `build` (its sft.jsonl; with
  data=lemma_release, the released rows converted by build).
Both start from the same base model with the same step budget (train.max_steps, else train.epochs), the same
prompt format as evaluation (lemma.prompt_format; the original trained with `Human:/Assistant:` and evaluated with
cot-meta-math, METHOD.md §10 item 13), loss on the response and its EOS only (b6).

The stage is the driver of DESIGN.md §6: it writes job.yaml into the artifact, checks memory (b4) and launches the
worker as a child process; checkpoints live in ctx.work_dir(), derived from the artifact key, so rerunning the same
command after a crash resumes (b1). The artifact holds model/ (HF format, reload-checked), metrics.json,
train_log.jsonl and job.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lemma.model import MODEL_DIR, model_path
from lemma.pipeline import Stage, StageContext
from lemma.prompt_format import get_format
from lemma.records import Problem, read_jsonl

SFT_FILE = "sft.jsonl"  # what build writes


def reference_pairs(problems_file: Path, prompt_format: str) -> list[tuple[str, str]]:
    """(prompt, completion) from the train problems' reference solutions: the plain SFT baseline's data."""
    fmt = get_format(prompt_format)
    return [fmt.sft_pair(p.question, p.reference) for p in read_jsonl(problems_file, Problem)]


def sft_pairs(path: Path, prompt_format: str) -> list[tuple[str, str]]:
    """(prompt, completion) from SFTExample rows, or released Alpaca rows (instruction, input, output)."""
    fmt, pairs = get_format(prompt_format), []
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if "question" in row and "response" in row:
                question, response = row["question"], row["response"]
            elif "instruction" in row and "output" in row:
                extra = (row.get("input") or "").strip()
                question, response = row["instruction"] + (f"\n\n{extra}" if extra else ""), row["output"]
            else:
                raise ValueError(f"{path}:{lineno}: a training row needs question/response or instruction/output")
            pairs.append(fmt.sft_pair(question, response))
    return pairs


def training_pairs(ctx: StageContext) -> list[tuple[str, str]]:
    fmt = ctx.cfg.model.prompt_format
    if ctx.arm == "sft":
        pairs = reference_pairs(ctx.input("problems").file("train.jsonl"), fmt)
        if not pairs:
            raise ValueError(f"train.sft: data={ctx.cfg.data.name} has no train problems with reference solutions "
                             "for the SFT baseline; drop the arm (arms=[base,lemma]) or use data=gsm8k_math")
        return pairs
    pairs = sft_pairs(ctx.input("build").file(SFT_FILE), fmt)
    if not pairs:
        raise ValueError("train.lemma: build's sft.jsonl is empty; nothing to train on")
    return pairs


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
    metrics = launch.run_job(job, ctx.out)
    launch.copy_logs(job, ctx.out)
    if estimate is not None:
        metrics["memory_estimate_gb"] = round(estimate.total_gb, 1)
    (ctx.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def run(ctx: StageContext) -> dict[str, Any]:
    pairs = training_pairs(ctx)
    base = model_path(ctx.input("base"))
    metrics = train_model(ctx, pairs, base, run_name=f"{ctx.node}-{ctx.key}")
    ctx.log.info("%s: %d examples, %d steps, final loss %.4f, %.0f tokens/s", ctx.node, metrics["examples"],
                 metrics["steps"], metrics["final_loss"], metrics["tokens_per_s"])
    return {"arm": ctx.arm, "rows": len(pairs), "base_model": base, **_flat(metrics)}


def _flat(metrics: dict[str, Any]) -> dict[str, Any]:
    data = metrics.get("data", {})
    keep = ("final_loss", "steps", "real_tokens", "tokens_per_s", "padding_share", "train_seconds", "num_params",
            "examples", "resumed_from_step", "world_size", "backend", "zero_stage", "memory_estimate_gb")
    return {**{k: metrics[k] for k in keep if k in metrics},
            "dropped_too_long": data.get("dropped_too_long", 0), "mean_length": data.get("mean_length")}


def _needs(cfg: Any, arm: str | None) -> tuple[str, ...]:
    if arm == "sft":
        return ("problems", "base")
    if arm == "lemma":
        return ("base", "build")
    raise ValueError(f"train has the nodes train.sft and train.lemma, not {arm!r}")


STAGE = Stage(name="train", run=run, needs=_needs, keys=("train", "model.prompt_format"), version=1)
