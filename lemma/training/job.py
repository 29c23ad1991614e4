"""`TrainJob`: everything a training child needs, resolved by the driver and written to `job.yaml`.

The child never sees Hydra (DESIGN.md §6): it loads this file with `OmegaConf.merge(structured(TrainJob), load(...))`
so a misspelt or mistyped field fails at load. Paths are absolute; the checkpoint folder derives from the artifact
key (ctx.work_dir()), never from a clock, so a relaunch finds its checkpoints (b1).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf

from lemma.errors import LemmaError


class TrainJobError(LemmaError, ValueError):
    """A job that cannot run as configured; the message names the config keys to change."""


@dataclass
class TrainJob:
    # what to train on, where to write
    model_path: str  # from_pretrained source: a local folder or hub name
    data_path: str  # rows JSONL: {"prompt": ..., "completion": ...}, rendered with lemma.prompt_format
    output_dir: str  # the final model (HF format) lands here
    checkpoint_dir: str  # deterministic work folder: checkpoints, the started marker, the token cache, the log
    tokenized_path: Optional[str] = None  # set by the driver after tokenising (lemma.training.data)
    # hyperparameters (content)
    lr: float = 3e-3
    epochs: float = 3.0
    max_steps: Optional[int] = None  # None = epochs decide
    global_batch: int = 32
    max_seq_len: int = 512
    warmup_ratio: float = 0.03
    scheduler: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    bf16: bool = False
    packing: bool = False
    group_by_length: bool = True  # only when packing is off: batches of similar length, less padding
    seed: int = 0
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    # execution
    backend: str = "torch"  # torch | deepspeed
    zero_stage: int = 0
    offload_optimizer: bool = False
    offload_params: bool = False
    nproc_per_node: int = 1
    nnodes: int = 1
    hostfile: Optional[str] = None
    master_port: int = 29500
    micro_batch: Optional[int] = None  # None = global_batch / world size (no accumulation)
    save_every: int = 100
    keep_checkpoints: int = 2
    gradient_checkpointing: bool = False
    log_every: int = 10
    dataloader_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda
    attn_implementation: Optional[str] = None
    report_to: str = "none"  # none | wandb
    run_name: Optional[str] = None  # W&B run name: derived from the artifact key
    progress_bar: bool = False
    gpu_memory_gb: float = 80.0  # per GPU, for the memory pre-flight

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    @property
    def checkpoints(self) -> Path:
        return Path(self.checkpoint_dir)


def batch_plan(job: TrainJob) -> tuple[int, int]:
    """(micro_batch per process, gradient accumulation steps) for job.global_batch over the world size."""
    world = job.world_size
    where = (f"train.nproc_per_node={job.nproc_per_node} x train.nnodes={job.nnodes} = {world} processes")
    if job.global_batch < 1 or world < 1:
        raise TrainJobError(f"train.global_batch={job.global_batch} and the world size ({where}) must be >= 1")
    if job.micro_batch is None:
        if job.global_batch % world:
            raise TrainJobError(f"train.global_batch={job.global_batch} is not divisible by the world size ({where}); "
                                "change train.global_batch or train.nproc_per_node")
        return job.global_batch // world, 1
    per_step = job.micro_batch * world
    if job.micro_batch < 1 or job.global_batch % per_step:
        raise TrainJobError(f"train.global_batch={job.global_batch} is not divisible by train.micro_batch="
                            f"{job.micro_batch} x world size ({where}) = {per_step}; change train.global_batch, "
                            "train.micro_batch or train.nproc_per_node")
    return job.micro_batch, job.global_batch // per_step


def validate(job: TrainJob) -> None:
    """Cross-field checks that need no model or data; raises TrainJobError naming the keys."""
    batch_plan(job)
    problems = []
    if job.backend not in ("torch", "deepspeed"):
        problems.append(f"train.backend={job.backend!r}: use torch or deepspeed")
    if job.backend == "deepspeed" and job.zero_stage not in (0, 1, 2, 3):
        problems.append(f"train.zero_stage={job.zero_stage}: DeepSpeed ZeRO stages are 0-3")
    if job.backend == "torch" and (job.zero_stage or job.offload_optimizer or job.offload_params):
        problems.append("train.zero_stage/offload_* need train.backend=deepspeed "
                        "(use train=zero2, zero3, zero3_offload)")
    if job.offload_params and job.zero_stage != 3:
        problems.append("train.offload_params needs train.zero_stage=3 (train=zero3_offload)")
    if job.offload_optimizer and job.zero_stage < 1:
        problems.append("train.offload_optimizer needs train.zero_stage >= 1")
    if not 0 <= job.warmup_ratio < 1:
        problems.append(f"train.warmup_ratio={job.warmup_ratio} must be in [0, 1)")
    if job.max_steps is None and job.epochs <= 0:
        problems.append("train.max_steps is null and train.epochs <= 0: nothing to train")
    if job.nnodes > 1 and not job.hostfile:
        from lemma.training.slurm import in_allocation_of

        if not in_allocation_of(job.nnodes):
            problems.append(f"train.nnodes={job.nnodes}: run inside a SLURM allocation of {job.nnodes} nodes with "
                            "one task per node (srun, or hydra/launcher=submitit_slurm; lemma.training.slurm), or "
                            "set train.hostfile for the deepspeed launcher over ssh")
    if job.save_every < 1 or job.keep_checkpoints < 1:
        problems.append("train.save_every and train.keep_checkpoints must be >= 1")
    if problems:
        raise TrainJobError("; ".join(problems))


def save_job(job: TrainJob, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(OmegaConf.structured(job)))
    return path


def load_job(path: str | Path) -> TrainJob:
    merged = OmegaConf.merge(OmegaConf.structured(TrainJob), OmegaConf.load(str(path)))
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def replace(job: TrainJob, **changes: Any) -> TrainJob:
    return dataclasses.replace(job, **changes)


def from_config(train: Any, model: Any, *, model_path: str, data_path: Path, output_dir: Path,
                checkpoint_dir: Path, run_name: str | None = None, report_to: str = "none") -> TrainJob:
    """Map the `train` and `model` config groups onto a TrainJob (the one place that knows both shapes)."""
    names = [f.name for f in dataclasses.fields(TrainJob)]
    fields = {k: train[k] for k in names if k in train and k not in ("model_path", "data_path")}
    return TrainJob(model_path=str(model_path), data_path=str(Path(data_path).resolve()),
                    output_dir=str(Path(output_dir).resolve()), checkpoint_dir=str(Path(checkpoint_dir).resolve()),
                    attn_implementation=model.get("attn_implementation"), run_name=run_name, report_to=report_to,
                    **fields)
