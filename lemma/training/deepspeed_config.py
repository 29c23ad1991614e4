"""The DeepSpeed JSON, generated from the TrainJob: no hand-kept JSON files that drift from the config.

`train=zero2` is the paper's setting (METHOD.md §6: ZeRO-2, overlap_comm, allgather and reduce buckets 5e8,
round-robin and contiguous gradients). ZeRO-3 always gathers 16-bit weights on save: without it DeepSpeed writes no
`model.safetensors` (ENVIRONMENT.md; DESIGN.md §9 b3). Batch sizes are explicit numbers equal to the Trainer's
arguments (the HF integration checks they match) and come from `job.batch_plan`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lemma.training.job import TrainJob, batch_plan

BUCKET = 500_000_000  # 5e8 elements, the paper's allgather and reduce buckets


def zero_section(job: TrainJob) -> dict[str, Any]:
    zero: dict[str, Any] = {"stage": job.train.zero_stage}
    if job.train.zero_stage in (1, 2):
        zero.update(allgather_partitions=True, allgather_bucket_size=BUCKET, overlap_comm=True, reduce_scatter=True,
                    reduce_bucket_size=BUCKET, contiguous_gradients=True, round_robin_gradients=True)
    elif job.train.zero_stage == 3:
        zero.update(overlap_comm=True, contiguous_gradients=True, reduce_bucket_size=BUCKET,
                    stage3_prefetch_bucket_size=BUCKET, stage3_param_persistence_threshold=1_000_000,
                    stage3_max_live_parameters=1_000_000_000, stage3_max_reuse_distance=1_000_000_000,
                    sub_group_size=1_000_000_000, stage3_gather_16bit_weights_on_model_save=True)
    if job.train.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if job.train.offload_params:
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    return zero


def build_config(job: TrainJob) -> dict[str, Any]:
    micro, accum = batch_plan(job)
    config: dict[str, Any] = {
        "train_batch_size": job.train.global_batch,
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": accum,
        "gradient_clipping": job.train.max_grad_norm,
        "bf16": {"enabled": job.train.bf16},
        "fp16": {"enabled": False},
        "zero_optimization": zero_section(job),
        "steps_per_print": 1_000_000_000,
        "wall_clock_breakdown": False,
    }
    if job.train.offload_optimizer:
        # ZeRO-Offload steps the optimizer on the CPU with DeepSpeedCPUAdam, which DeepSpeed builds from this block;
        # the values equal the Trainer's (AdamW, torch defaults) so the HF integration accepts them.
        config["optimizer"] = {"type": "AdamW", "params": {"lr": job.train.lr, "betas": [0.9, 0.999], "eps": 1e-8,
                                                          "weight_decay": job.train.weight_decay}}
    return config


def write_config(job: TrainJob, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(build_config(job), indent=2))
    return path
