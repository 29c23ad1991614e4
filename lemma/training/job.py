"""`TrainJob`: everything a training child needs, resolved by the driver and written to `job.yaml`.

The child never sees Hydra (DESIGN.md §6): it loads this file with `OmegaConf.merge(structured(TrainJob), load(...))`
so a misspelt or mistyped field fails at load. Paths are absolute; the checkpoint folder derives from the artifact
key (ctx.work_dir()), never from a clock, so a relaunch finds its checkpoints (b1).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf

from lemma.config_models import TrainConfig
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
    # how: the `train` group as composed (hyperparameters and execution); its schema holds the only defaults
    train: TrainConfig = field(default_factory=TrainConfig)
    tokenized_path: Optional[str] = None  # set by the driver after tokenising (lemma.training.data)
    # what the train group does not hold: from the model group and the stage
    device: str = "auto"  # auto | cpu | cuda
    attn_implementation: Optional[str] = None
    report_to: str = "none"  # none | wandb
    run_name: Optional[str] = None  # W&B run name: derived from the artifact key
    progress_bar: bool = False

    @property
    def world_size(self) -> int:
        return self.train.nproc_per_node * self.train.nnodes

    @property
    def checkpoints(self) -> Path:
        return Path(self.checkpoint_dir)


def batch_plan(job: TrainJob) -> tuple[int, int]:
    """(micro_batch per process, gradient accumulation steps) for job.train.global_batch over the world size."""
    world = job.world_size
    where = (f"train.nproc_per_node={job.train.nproc_per_node} x train.nnodes={job.train.nnodes} = {world} processes")
    if job.train.global_batch < 1 or world < 1:
        raise TrainJobError(f"train.global_batch={job.train.global_batch} and the world size ({where}) must be >= 1")
    if job.train.micro_batch is None:
        if job.train.global_batch % world:
            raise TrainJobError(f"train.global_batch={job.train.global_batch} is not divisible by the world size ({where}); "
                                "change train.global_batch or train.nproc_per_node")
        return job.train.global_batch // world, 1
    per_step = job.train.micro_batch * world
    if job.train.micro_batch < 1 or job.train.global_batch % per_step:
        raise TrainJobError(f"train.global_batch={job.train.global_batch} is not divisible by train.micro_batch="
                            f"{job.train.micro_batch} x world size ({where}) = {per_step}; change train.global_batch, "
                            "train.micro_batch or train.nproc_per_node")
    return job.train.micro_batch, job.train.global_batch // per_step


def validate(job: TrainJob) -> None:
    """Cross-field checks that need no model or data; raises TrainJobError naming the keys."""
    batch_plan(job)
    problems = []
    if job.train.backend not in ("torch", "deepspeed"):
        problems.append(f"train.backend={job.train.backend!r}: use torch or deepspeed")
    if job.train.backend == "deepspeed" and job.train.zero_stage not in (0, 1, 2, 3):
        problems.append(f"train.zero_stage={job.train.zero_stage}: DeepSpeed ZeRO stages are 0-3")
    if job.train.backend == "torch" and (job.train.zero_stage or job.train.offload_optimizer or job.train.offload_params):
        problems.append("train.zero_stage/offload_* need train.backend=deepspeed "
                        "(use train=zero2, zero3, zero3_offload)")
    if job.train.offload_params and job.train.zero_stage != 3:
        problems.append("train.offload_params needs train.zero_stage=3 (train=zero3_offload)")
    if job.train.offload_optimizer and job.train.zero_stage < 1:
        problems.append("train.offload_optimizer needs train.zero_stage >= 1")
    if not 0 <= job.train.warmup_ratio < 1:
        problems.append(f"train.warmup_ratio={job.train.warmup_ratio} must be in [0, 1)")
    if job.train.max_steps is None and job.train.epochs <= 0:
        problems.append("train.max_steps is null and train.epochs <= 0: nothing to train")
    if job.train.nnodes > 1 and not job.train.hostfile:
        from lemma.training.slurm import in_allocation_of

        if not in_allocation_of(job.train.nnodes):
            problems.append(f"train.nnodes={job.train.nnodes}: run inside a SLURM allocation of {job.train.nnodes} nodes with "
                            "one task per node (srun, or hydra/launcher=submitit_slurm; lemma.training.slurm), or "
                            "set train.hostfile for the deepspeed launcher over ssh")
    if job.train.save_every < 1 or job.train.keep_checkpoints < 1:
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


def train_settings(train: Any) -> TrainConfig:
    """The `train` node (or a TrainConfig) as a TrainConfig, interpolations resolved: what a job carries."""
    if isinstance(train, TrainConfig):
        return train
    node = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.to_container(train, resolve=True))
    return OmegaConf.to_object(node)  # type: ignore[return-value]


def from_config(train: Any, model: Any, *, model_path: str, data_path: Path, output_dir: Path,
                checkpoint_dir: Path, run_name: str | None = None, report_to: str = "none") -> TrainJob:
    """A TrainJob from the `train` group (or a TrainConfig) and the model group: paths absolute, nothing redeclared."""
    return TrainJob(model_path=str(model_path), data_path=str(Path(data_path).resolve()),
                    output_dir=str(Path(output_dir).resolve()), checkpoint_dir=str(Path(checkpoint_dir).resolve()),
                    train=train_settings(train), attn_implementation=model.get("attn_implementation"),
                    run_name=run_name, report_to=report_to)
