"""HF Trainer glue: our batches, token accounting, rank-0 logging and checkpoint completion.

The Trainer does the optimizer/scheduler/DeepSpeed/resume work (its checkpoints carry optimizer, scheduler, RNG and
step); we add what it lacks for this project:
- `get_train_dataloader` returns our world-size-independent `GlobalBatchSampler` batches, not Accelerate's shards,
  so `cpu`, `zero2` and `zero3` runs see the same examples per step (their loss curves must agree);
- tokens/s and padding share per logged step (DESIGN.md §9 b5: packing must be seen to work);
- `train_log.jsonl` lines written by rank 0 only, and a checkpoint counts only once every rank has saved.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from lemma.training import checkpoints
from lemma.training.data import EpochDataLoader, GlobalBatchSampler, token_counts
from lemma.training.job import TrainJob

log = logging.getLogger("lemma.training")


def _all_reduce(values: list[float], device: torch.device) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(tensor)
    return tensor.tolist()


class LemmaTrainer(Trainer):
    def __init__(self, *args: Any, job: TrainJob, lengths: Any, micro_batch: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.job, self.lengths, self.micro_batch = job, lengths, micro_batch
        self._window = [0.0, 0.0]  # real and computed tokens since the last log
        self.totals = {"real_tokens": 0.0, "tokens": 0.0, "seconds": 0.0}
        self._window_start: float | None = None

    def get_train_dataloader(self) -> EpochDataLoader:
        sampler = GlobalBatchSampler(self.lengths, self.job.train.global_batch, self.micro_batch, self.args.world_size,
                                     self.args.process_index, self.job.train.seed,
                                     self.job.train.group_by_length and not self.job.train.packing)
        return EpochDataLoader(self.train_dataset, batch_sampler=sampler, collate_fn=self.data_collator,
                               num_workers=self.job.train.dataloader_workers, pin_memory=False)

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
        if self._window_start is None:
            self._window_start = time.perf_counter()
        real, total = token_counts(inputs)
        self._window[0] += real
        self._window[1] += total
        return super().training_step(model, inputs, num_items_in_batch)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._window_start is not None:  # a step log: every rank is here
            real, total = _all_reduce(self._window, self.args.device)
            now = time.perf_counter()
            seconds = max(now - self._window_start, 1e-9)
            logs["tokens_per_s"] = round(real / seconds, 1)
            logs["padding_share"] = round(1 - real / max(total, 1), 4)
            for key, value in (("real_tokens", real), ("tokens", total), ("seconds", seconds)):
                self.totals[key] += value
            self._window, self._window_start = [0.0, 0.0], now
        super().log(logs, start_time)


class LogCallback(TrainerCallback):
    """Rank 0: one JSON line per logged step in train_log.jsonl and one readable log line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if state.global_step >= state.max_steps:  # always log the last step: it gives the final loss
            control.should_log = True

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        row = {"step": state.global_step, "loss": logs["loss"], "lr": logs.get("learning_rate"),
               "grad_norm": logs.get("grad_norm"), "tokens_per_s": logs.get("tokens_per_s"),
               "padding_share": logs.get("padding_share"), "epoch": round(logs.get("epoch", 0.0), 4)}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        log.info("step %d/%d loss %.4f lr %.3g grad_norm %.3g %.0f tok/s padding %.1f%%", state.global_step,
                 state.max_steps, row["loss"], row["lr"] or 0.0, row["grad_norm"] or 0.0, row["tokens_per_s"] or 0,
                 100 * (row["padding_share"] or 0.0))


class CheckpointCallback(TrainerCallback):
    """After the Trainer saved checkpoint-N on every rank: barrier, then rank 0 marks it complete and prunes."""

    def __init__(self, job: TrainJob) -> None:
        self.job = job

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        # The Trainer also saves at the last step; only train.save_every decides here (a full 8B optimizer state
        # is ~100 GB, and the final weights are saved separately anyway).
        if state.global_step >= state.max_steps and state.global_step % self.job.train.save_every:
            control.should_save = False

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()
        if state.is_world_process_zero:
            path = Path(args.output_dir) / f"{checkpoints.PREFIX}{state.global_step}"
            checkpoints.mark_complete(self.job, path, state.global_step)
            log.info("checkpoint %s complete", path.name)


def trim_log(path: Path, step: int) -> None:
    """On resume, drop log lines of steps after the checkpoint (they are trained again)."""
    if not path.is_file():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(r + "\n" for r in rows))
