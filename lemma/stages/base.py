"""base: the student before any fine-tuning, the starting point of both trained arms and the `base` row.

- model.kind=hf: nothing to build; the hub name or local path goes into `model_ref.json` (no multi-GB copy), and
  `lemma.model.model_path(artifact)` resolves it for sampling, evaluation and training.
- model.kind=tiny: a byte-level BPE tokenizer and a small Llama are built from the world's own text (the train
  problems' questions and reference solutions), then warmed up for model.tiny.warmup.max_steps on the reference
  solutions through the same training code as `train` (driver, worker, checkpoints). A random model's errors
  would be noise; METHOD.md §3 needs a student whose mistakes have types and first wrong steps.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from omegaconf import OmegaConf

from lemma.config import TrainConfig
from lemma.model import MODEL_DIR, MODEL_REF
from lemma.pipeline import Stage, StageContext
from lemma.records import Problem
from lemma.stages.problems import read_dev, read_train
from lemma.training.job import train_settings

def _hf(ctx: StageContext) -> dict[str, Any]:
    model = ctx.cfg.model
    if not model.path:
        raise ValueError(f"model={model.name}: model.kind=hf needs model.path (a hub name or a local folder)")
    (ctx.out / MODEL_REF).write_text(json.dumps({"model_path": model.path, "name": model.name}, indent=2))
    return {"kind": "hf", "model_path": model.path, "params_b": model.params_b}


def _warmup_config(ctx: StageContext) -> TrainConfig:
    """The warm-up's TrainConfig: its content from model.tiny.warmup (the model's YAML), execution from `train`.

    Only the train fields the schema marks as execution are copied (how many processes, ...); the one content field
    taken from `train`, group_by_length (the order of the warm-up's batches), is keyed. Everything else is
    TrainConfig's default (no bf16, packing or LoRA for a 1M model).
    """
    tiny, train = ctx.cfg.model.tiny, ctx.cfg.train
    execution = {k: train[k] for k in sorted(TrainConfig.EXECUTION_FIELDS) if k in train}
    content = OmegaConf.to_container(tiny.warmup, resolve=True)
    settings = {**execution, **content, "max_seq_len": tiny.max_position_embeddings, "seed": tiny.init_seed,
                "group_by_length": bool(train.group_by_length), "micro_batch": None,  # its own batch: derive it
                "save_every": max(1, int(content["max_steps"]) // 3)}
    return train_settings(OmegaConf.create(settings))


def tokenizer_kind(cfg: Any) -> str:
    """closed or bpe: `auto` is closed for the relations world, whose words are all known in advance."""
    kind = str(cfg.model.tiny.tokenizer)
    if kind == "auto":
        return "closed" if str(cfg.data.kind) == "relations" else "bpe"
    return kind


GATE_BATCH = 128  # dev problems decoded together: the tiny model is small, batches are cheap


def _tokenizer_texts(ctx: StageContext, problems: list[Problem]) -> list[str]:
    """What the tiny tokenizer is built from: the world's closed vocabulary, or the train problems' own text (BPE)."""
    from lemma.model.tiny import closed_texts
    from lemma.teacher.symbolic.relations_revise import MAX_NUMBER

    if tokenizer_kind(ctx.cfg) == "closed":
        return closed_texts(str(ctx.cfg.data.kind), MAX_NUMBER, str(ctx.cfg.model.prompt_format))
    return [t for p in problems for t in (p.question, p.reference)]


def _tiny(ctx: StageContext) -> dict[str, Any]:
    from lemma.model.tiny import build_tiny
    from lemma.stages.train import reference_pairs, train_model

    problems = read_train(ctx.input("problems"))
    if not problems:
        raise ValueError(f"model=tiny builds its tokenizer from the train problems, and data={ctx.cfg.data.name} "
                         "has none; use data=relations or a real model (model=llama3_8b, ...)")
    tiny = ctx.cfg.model.tiny
    init = ctx.work_dir() / "init"
    if not (init / "config.json").is_file():  # deterministic (texts, seed): rebuilt identically after a crash
        tmp = ctx.work_dir() / "init.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        build_tiny(_tokenizer_texts(ctx, problems), tiny, tmp, seed=int(tiny.init_seed), tokenizer=tokenizer_kind(ctx.cfg))
        tmp.rename(init)
    pairs = reference_pairs(problems, ctx.cfg.model.prompt_format)
    metrics = train_model(ctx, pairs, str(init), run_name=f"base-{ctx.key}", train_cfg=_warmup_config(ctx))
    ctx.log.info("base: tiny model (%d params) warmed up for %d steps, final loss %.4f", metrics["num_params"],
                 metrics["steps"], metrics["final_loss"])
    stats = {"kind": "tiny", "model_path": MODEL_DIR, "num_params": metrics["num_params"],
             "warmup_steps": metrics["steps"], "warmup_final_loss": metrics["final_loss"],
             "warmup_tokens": metrics.get("real_tokens"), "tokens_per_s": metrics["tokens_per_s"],
             "train_seconds": metrics["train_seconds"]}
    gate = _gate(ctx)
    if gate is not None:
        stats["gate"] = gate
    return stats


def _gate(ctx: StageContext) -> dict[str, Any] | None:
    """The warm-up gate on the dev split (lemma.model.gate), when the world has one."""
    from lemma.generation import SamplingSpec, generate
    from lemma.model import gate
    from lemma.prompt_format import STOP_STRINGS, get_format

    if str(ctx.cfg.data.kind) != "relations":
        return None
    dev = read_dev(ctx.input("problems"))
    if dev is None:
        return None
    fmt = get_format(ctx.cfg.model.prompt_format)
    spec = SamplingSpec(n=1, temperature=0.0, max_new_tokens=int(ctx.cfg.model.tiny.gate.max_new_tokens),
                        stop=STOP_STRINGS)
    gens = generate(str(ctx.out / MODEL_DIR), [fmt.render(p.question) for p in dev], spec, backend="hf",
                    batch_size=GATE_BATCH, device=str(ctx.cfg.generation.device))
    result = gate.measure(str(ctx.cfg.data.kind), dev, [g[0].text for g in gens], ctx.cfg.model.tiny.gate)
    gate.report(result)
    return result.as_dict()


def run(ctx: StageContext) -> dict[str, Any]:
    return _hf(ctx) if ctx.cfg.model.kind == "hf" else _tiny(ctx)


def gate_result(stats: dict[str, Any]) -> dict[str, Any] | None:
    """The warm-up gate's result in these stats (GateResult.as_dict), or None where no gate ran."""
    return stats.get("gate")


def gate_line(gate: dict[str, Any]) -> str:
    """The report's line for a gate result: the verdict, both measured figures against their bounds, the errors."""
    verdict = "passed" if gate["passed"] else "MISSED"
    errors = ", ".join(f"{k} {v}" for k, v in sorted(gate["errors"].items(), key=lambda kv: -kv[1]))
    return (f"**Warm-up gate {verdict}**: dev greedy accuracy {gate['dev_acc']:.1f}% (gate {gate['min_acc']:g}-"
            f"{gate['max_acc']:g}%), {100 * gate['lookup_share']:.0f}% of errors of the lookup/ordering kind (gate >= "
            f"{100 * gate['min_lookup_share']:.0f}%); first errors on {gate['n']} dev problems: {errors or 'none'}.")


# train.group_by_length: the warm-up's batch order (_warmup_config); data.* reads are keyed by the parent `problems`.
STAGE = Stage(name="base", run=run, needs=lambda cfg, arm: ("problems",), keys=("model", "train.group_by_length"),
              version=2, uses=("trainer",))  # the tiny model's warm-up trains in a child process
