"""Resumable checkpoints in the deterministic work folder (DESIGN.md §9 b1-b3).

- Full state every `save_every` steps (model, optimizer, scheduler, RNG, step; the data position follows from the
  step because `GlobalBatchSampler` is deterministic). The original saved the model only, so it could not resume.
- A checkpoint counts once `lemma_checkpoint.json` is in it, written after every rank finished writing; a
  SIGKILL mid-save leaves a folder without it, which is ignored and removed.
- The first complete save also writes `STARTED_MARKER` into the work folder. A retry that finds the marker but no
  complete checkpoint stops with an error instead of silently restarting from step 0 (open-instruct lost ~25 h so).
- Topology (world size, ZeRO stage, global batch) is recorded; a resume under another topology is explained (b2).
- After the final save the weights are reloaded and checked: parameter count and a finite forward pass (b3).
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lemma.errors import LemmaError
from lemma.training.job import TrainJob, batch_plan

log = logging.getLogger(__name__)

PREFIX = "checkpoint-"
META = "lemma_checkpoint.json"
STARTED_MARKER = "SAVED_A_CHECKPOINT"


class CheckpointError(LemmaError, RuntimeError):
    """A checkpoint folder that cannot be resumed as configured; the message says what to do."""


@dataclass(frozen=True)
class ResumePoint:
    path: Path
    step: int
    meta: dict[str, Any]


def topology(job: TrainJob) -> dict[str, Any]:
    micro, accum = batch_plan(job)
    return {"world_size": job.world_size, "nnodes": job.train.nnodes, "nproc_per_node": job.train.nproc_per_node,
            "backend": job.train.backend, "zero_stage": job.train.zero_stage, "global_batch": job.train.global_batch,
            "micro_batch": micro, "grad_accum": accum, "packing": job.train.packing, "seed": job.train.seed}


def _step(path: Path) -> int:
    match = re.fullmatch(rf"{PREFIX}(\d+)", path.name)
    return int(match.group(1)) if match else -1


def list_checkpoints(folder: Path) -> tuple[list[Path], list[Path]]:
    """(complete, incomplete) checkpoint folders, oldest first."""
    found = sorted((p for p in Path(folder).glob(f"{PREFIX}*") if p.is_dir() and _step(p) >= 0), key=_step)
    return [p for p in found if (p / META).is_file()], [p for p in found if not (p / META).is_file()]


def find_resume(job: TrainJob) -> ResumePoint | None:
    """The newest complete checkpoint, None for a fresh start; raises when a retry lost its checkpoints."""
    folder = job.checkpoints
    complete, _ = list_checkpoints(folder)
    marker = folder / STARTED_MARKER
    if not complete:
        if marker.is_file():
            raise CheckpointError(
                f"{folder}: {STARTED_MARKER} says this training saved a checkpoint before "
                f"({marker.read_text().strip()}), but no complete {PREFIX}* folder is left. Refusing to restart from "
                f"step 0 silently. Restore the checkpoints, or delete {folder} to start over on purpose.")
        return None
    path = complete[-1]
    meta = json.loads((path / META).read_text())
    check_topology(meta, topology(job), path)
    return ResumePoint(path, _step(path), meta)


def check_topology(saved: dict[str, Any], now: dict[str, Any], path: Path) -> None:
    """Same data order and loadable optimizer state, or an error that explains the way out (b2)."""
    for key in ("global_batch", "seed", "packing"):
        if saved.get(key) != now[key]:
            raise CheckpointError(f"{path}: written with train.{key}={saved.get(key)}, now {now[key]}: the data "
                                  f"order and step count would differ; rerun with train.{key}={saved.get(key)} "
                                  f"or delete {path.parent} to start over")
    if saved.get("world_size") == now["world_size"] and saved.get("zero_stage") == now["zero_stage"] \
            and saved.get("backend") == now["backend"]:
        return
    was = f"{saved.get('world_size')} processes, backend={saved.get('backend')}, ZeRO-{saved.get('zero_stage')}"
    new = f"{now['world_size']} processes, backend={now['backend']}, ZeRO-{now['zero_stage']}"
    if saved.get("backend") == now["backend"] == "torch":
        log.warning("resuming %s (written by %s) with %s: torch checkpoints hold the full optimizer state and the "
                    "batches do not depend on the world size, so this is exact", path.name, was, new)
        return
    raise CheckpointError(
        f"{path}: written by {was}, now {new}. DeepSpeed keeps one optimizer partition per rank and cannot load "
        f"them into another topology (DeepSpeed #3810, #2898). Either rerun with the old train.nproc_per_node/"
        f"train.nnodes/train option, or consolidate the weights (python {path}/zero_to_fp32.py {path} <out>) and "
        f"start a new run from them (the optimizer state is lost), or convert with "
        f"deepspeed.checkpoint.ds_to_universal.")


def prune(folder: Path, keep: int) -> None:
    """Delete incomplete checkpoints and all but the newest `keep` complete ones (rank 0 only)."""
    complete, incomplete = list_checkpoints(folder)
    for path in incomplete + complete[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def mark_complete(job: TrainJob, path: Path, step: int) -> None:
    """Rank 0, after every rank has written its part: the checkpoint now counts."""
    meta = {**topology(job), "step": step, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (path / META).write_text(json.dumps(meta, indent=2))
    marker = job.checkpoints / STARTED_MARKER
    marker.write_text(f"first complete checkpoint at step {step}, {meta['saved_at']}\n" if not marker.is_file()
                      else marker.read_text())
    prune(job.checkpoints, job.train.keep_checkpoints)


def saved_parameter_count(path: Path) -> int:
    """Elements in the saved safetensors files, read from their headers (no weights loaded)."""
    from safetensors import safe_open

    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        raise CheckpointError(f"{path}: no *.safetensors written (ZeRO-3 needs "
                              "stage3_gather_16bit_weights_on_model_save)")
    total = 0
    for file in files:
        with safe_open(str(file), framework="pt") as fh:
            total += sum(math.prod(fh.get_slice(name).get_shape()) for name in fh.keys())
    return total


def verify_saved_model(path: Path, expected_params: int | None) -> dict[str, Any]:
    """Check the saved weights' size from the file headers, then reload them through `from_pretrained` (the
    generation code path) and run one forward pass (b3). On a GPU machine the reload spreads over the GPUs."""
    import torch
    from transformers import AutoModelForCausalLM

    from lemma.model.loading import count_parameters

    n_saved = saved_parameter_count(path)  # tied weights may be stored twice: a lower bound, caught before loading
    if expected_params is not None and n_saved < expected_params:
        raise CheckpointError(f"{path}: the saved files hold {n_saved:,} parameters, the trained model "
                              f"{expected_params:,}; the save is incomplete (ZeRO-3 without 16-bit gathering?)")
    extra = {"device_map": "auto"} if torch.cuda.is_available() else {}
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype="auto", **extra)
    n_params = count_parameters(model)
    if expected_params is not None and n_params != expected_params:
        raise CheckpointError(f"{path}: reloaded {n_params:,} parameters, trained {expected_params:,}")
    with torch.no_grad():
        ids = torch.arange(min(8, model.config.vocab_size), device=model.device).unsqueeze(0)
        logits = model(input_ids=ids, use_cache=False).logits
    if not torch.isfinite(logits).all():
        raise CheckpointError(f"{path}: the saved model's forward pass gives non-finite logits")
    return {"num_params": n_params, "reload_ok": True}
