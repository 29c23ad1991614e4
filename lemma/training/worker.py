"""The training child: `python -m lemma.training.worker JOB.yaml` (or the same under torchrun / deepspeed).

It reads one resolved `TrainJob` and never parses Hydra arguments (DESIGN.md §6, Hydra #2038). Every rank runs
this; only rank 0 logs, writes the log, metrics and final weights. The process group is destroyed at the end:
two-process gloo runs sometimes crashed at exit without it (ENVIRONMENT.md).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import torch

from lemma.training import checkpoints
from lemma.training.job import TrainJob, TrainJobError, batch_plan, load_job, replace

log = logging.getLogger("lemma.training")

LOG_FILE = "train_log.jsonl"
METRICS_FILE = "metrics.json"


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _setup_logging(rank: int) -> None:
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, stream=sys.stderr,
                        format=f"%(asctime)s [rank{rank}] %(name)s: %(message)s", datefmt="%H:%M:%S")
    import warnings

    import transformers

    transformers.logging.set_verbosity_warning() if rank == 0 else transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # weight loading/saving bars; step progress is logged
    warnings.filterwarnings("ignore", message=r".*(all_gather_into_tensor|reduce_scatter_tensor).*deprecated")


def use_cpu(job: TrainJob) -> bool:
    return job.device == "cpu" or (job.device == "auto" and not torch.cuda.is_available())


def training_arguments(job: TrainJob, on_cpu: bool) -> Any:
    """Created before the model is loaded: under ZeRO-3 that makes from_pretrained partition the weights."""
    from transformers import TrainingArguments

    from lemma.training.deepspeed_config import build_config

    micro, accum = batch_plan(job)
    extra: dict[str, Any] = {}
    if job.train.backend == "deepspeed":
        extra["deepspeed"] = build_config(job)
    if on_cpu and job.world_size > 1:
        extra["ddp_backend"] = "gloo"
    if job.train.backend != "deepspeed":  # a causal LM uses every parameter: skip DDP's extra search of the graph
        extra["ddp_find_unused_parameters"] = False
    args = TrainingArguments(
        output_dir=job.checkpoint_dir, per_device_train_batch_size=micro, gradient_accumulation_steps=accum,
        learning_rate=job.train.lr, num_train_epochs=job.train.epochs, max_steps=job.train.max_steps or -1,
        lr_scheduler_type=job.train.scheduler, warmup_steps=job.train.warmup_ratio, weight_decay=job.train.weight_decay,
        max_grad_norm=job.train.max_grad_norm, bf16=job.train.bf16, optim="adamw_torch", seed=job.train.seed,
        logging_strategy="steps", logging_steps=job.train.log_every, save_strategy="steps", save_steps=job.train.save_every,
        save_total_limit=None, report_to=job.report_to, run_name=job.run_name, disable_tqdm=not job.progress_bar,
        use_cpu=on_cpu, gradient_checkpointing=job.train.gradient_checkpointing, remove_unused_columns=False,
        dataloader_num_workers=job.train.dataloader_workers, average_tokens_across_devices=True, **extra)
    _ = args.device  # sets up the process group now: ZeRO-3's partitioned load needs the world size
    if job.train.backend == "deepspeed":
        import deepspeed

        # with use_cpu the Trainer starts plain torch.distributed (gloo); zero.Init reads DeepSpeed's own view
        deepspeed.init_distributed(dist_backend="gloo" if on_cpu else "nccl")
    return args


def load_for_training(job: TrainJob, on_cpu: bool) -> tuple[Any, int]:
    """The model to train and the parameter count the saved model must have."""
    from transformers import AutoModelForCausalLM

    from lemma.model.loading import count_parameters, resolve_attn_implementation

    dtype = torch.bfloat16 if (job.train.bf16 and job.train.backend == "deepspeed") else torch.float32
    attn = resolve_attn_implementation(job.attn_implementation, on_gpu=not on_cpu)
    model = AutoModelForCausalLM.from_pretrained(job.model_path, dtype=dtype,
                                                 **({"attn_implementation": attn} if attn else {}))
    model.config.use_cache = False  # packed rows see each other through the cache (ENVIRONMENT.md)
    n_params = count_parameters(model)
    if job.train.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=job.train.lora_r, lora_alpha=job.train.lora_alpha, lora_dropout=0.0,
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    return model, n_params


def build_trainer(job: TrainJob, on_cpu: bool) -> tuple[Any, int]:
    from lemma.model.loading import load_tokenizer
    from lemma.training.data import SFTDataset, load_tokenized, make_collator
    from lemma.training.trainer import CheckpointCallback, LemmaTrainer, LogCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    if not job.tokenized_path:
        raise TrainJobError("job.tokenized_path is empty: the driver tokenises before launching "
                            "(lemma.training.launch.prepare)")
    from lemma.model.loading import resolve_attn_implementation

    # resolved once (one warning): flash_attention_2 only where flash-attn and a GPU are there, else sdpa
    job = replace(job, attn_implementation=resolve_attn_implementation(job.attn_implementation, on_gpu=not on_cpu))
    flash = job.attn_implementation == "flash_attention_2"
    if job.train.packing and not flash:
        log.warning("packing without flash_attention_2: exact, but attention runs over each whole packed row "
                    "(quadratic in its length); on CPU length grouping (packing off) is faster")
    args = training_arguments(job, on_cpu)
    tokenizer = load_tokenizer(job.model_path)
    model, n_params = load_for_training(job, on_cpu)
    data = load_tokenized(Path(job.tokenized_path))
    trainer = LemmaTrainer(model=model, args=args, train_dataset=SFTDataset(data), processing_class=tokenizer,
                           data_collator=make_collator(job.train.packing, tokenizer.pad_token_id, flash),
                           callbacks=[LogCallback(job.checkpoints / LOG_FILE), CheckpointCallback(job)],
                           job=job, lengths=data.lengths, micro_batch=batch_plan(job)[0])
    if not job.progress_bar:
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
    return trainer, n_params


def save_final(trainer: Any, job: TrainJob) -> None:
    """HF-format weights in job.output_dir (ZeRO-3: gathered 16-bit weights); LoRA adapters are merged."""
    if not job.train.lora:
        trainer.save_model(job.output_dir)
        return
    adapter = job.checkpoints / "adapter"
    trainer.save_model(str(adapter))
    if trainer.is_world_process_zero():
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(job.model_path, dtype=torch.float32)
        merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
        merged.save_pretrained(job.output_dir)
        trainer.processing_class.save_pretrained(job.output_dir)


def train(job: TrainJob) -> dict[str, Any]:
    on_cpu = use_cpu(job)
    resume = checkpoints.find_resume(job)
    trainer, n_params = build_trainer(job, on_cpu)
    rank0 = trainer.is_world_process_zero()
    if rank0:
        job.checkpoints.mkdir(parents=True, exist_ok=True)
        if resume is not None:
            log.info("resuming from checkpoint %s (step %d)", resume.path, resume.step)
            checkpoints.prune(job.checkpoints, job.train.keep_checkpoints)
            from lemma.training.trainer import trim_log

            trim_log(job.checkpoints / LOG_FILE, resume.step)
        else:
            (job.checkpoints / LOG_FILE).unlink(missing_ok=True)
            log.info("starting from step 0 (no checkpoint in %s)", job.checkpoints)
    result = trainer.train(resume_from_checkpoint=str(resume.path) if resume else None)
    save_final(trainer, job)
    metrics = _metrics(trainer, job, result, n_params, resume)
    if rank0:
        (job.checkpoints / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
        log.info("done: %s", {k: metrics[k] for k in ("steps", "final_loss", "tokens_per_s", "padding_share")})
    return metrics


def _metrics(trainer: Any, job: TrainJob, result: Any, n_params: int, resume: Any) -> dict[str, Any]:
    losses = [row for row in trainer.state.log_history if "loss" in row]
    totals = trainer.totals
    micro, accum = batch_plan(job)
    return {"final_loss": losses[-1]["loss"] if losses else None, "steps": trainer.state.global_step,
            "session_mean_loss": result.training_loss, "real_tokens": int(totals["real_tokens"]),
            "tokens_per_s": round(totals["real_tokens"] / max(totals["seconds"], 1e-9), 1),
            "padding_share": round(1 - totals["real_tokens"] / max(totals["tokens"], 1), 4),
            "train_seconds": round(result.metrics.get("train_runtime", 0.0), 2), "num_params": n_params,
            "examples": len(trainer.train_dataset), "resumed_from_step": resume.step if resume else None,
            "world_size": job.world_size, "micro_batch": micro, "grad_accum": accum, "backend": job.train.backend,
            "zero_stage": job.train.zero_stage, "packing": job.train.packing, "lora": job.train.lora}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m lemma.training.worker JOB.yaml", file=sys.stderr)
        return 2
    _setup_logging(_rank())
    job = load_job(argv[0])
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world != job.world_size:
        raise TrainJobError(f"launched with WORLD_SIZE={world}, but the job says train.nproc_per_node x "
                            f"train.nnodes = {job.world_size}")
    try:
        train(job)
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    code = main()
    # End without the interpreter's teardown: the model, checkpoints and metrics are on disk, and the destructors of
    # torch's C++ threads can abort a finished worker ("terminate called without an active exception", exit -6),
    # which torchrun reports as a failed training.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
