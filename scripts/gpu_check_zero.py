"""GPU check: ZeRO-2 and ZeRO-3 on a randomly initialised ~1.2B Llama in bf16, through the real driver and worker.

    python scripts/gpu_check_zero.py                 # all visible GPUs, 8 steps per stage
    python scripts/gpu_check_zero.py --dry-run       # CPU only: build the config, jobs and DeepSpeed JSON, no training

Prints tokens/s per stage and the implied model FLOPs utilisation, MFU = 6·N·tokens/s / (peak · GPUs), with the
dense bf16 peak looked up by GPU name (H100 989 TFLOP/s). The first logged step (kernel warm-up, DeepSpeed op
builds) is left out of the median. Rows are synthetic word problems concatenated to ~seq tokens; packing is on, so
every row is full.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

# dense bf16 tensor-core peaks in FLOP/s (vendor data sheets, without sparsity); specific names first
PEAK_BF16 = (("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H200", 989e12), ("H100", 989e12), ("A100", 312e12),
             ("L40S", 362e12), ("L40", 181e12), ("A10G", 70e12), ("A10", 125e12), ("L4", 121e12),
             ("4090", 165e12), ("A6000", 155e12))
LLAMA_1B = {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
            "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": True,
            "max_position_embeddings": 8192}  # the shape of Llama-3.2-1B
SMOKE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
         "num_key_value_heads": 2, "vocab_size": 512, "tie_word_embeddings": True, "max_position_embeddings": 1024}


def peak_flops(name: str) -> float | None:
    for key, value in PEAK_BF16:
        if key in name:
            return value
    return None


def build_model(folder: Path, on_meta: bool, shape: dict[str, Any]) -> int:
    """A random ~1.2B Llama with a small BPE tokenizer (ids stay below its vocab); returns the parameter count."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from lemma.model.tiny import train_tokenizer
    from lemma.training.synthetic import corpus, make_pairs

    tokenizer = train_tokenizer(corpus(make_pairs(256)), 512)
    config = LlamaConfig(**shape, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    with torch.device("meta" if on_meta else "cpu"):
        model = LlamaForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())
    if not on_meta:
        model.to(torch.bfloat16 if shape is LLAMA_1B else torch.float32).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return n_params


def long_rows(path: Path, tokenizer_dir: Path, n: int, seq: int) -> None:
    """n rows of 85-95% of `seq` tokens each: a question, then worked solutions appended until the row is full."""
    from lemma.model.loading import load_tokenizer
    from lemma.training.data import write_rows
    from lemma.training.synthetic import make_pairs

    tokenizer = load_tokenizer(tokenizer_dir)
    pairs = make_pairs(400, seed=1)
    sizes = [len(tokenizer(c, add_special_tokens=False)["input_ids"]) for _, c in pairs]
    rows = []
    for i in range(n):
        prompt, parts = pairs[i % len(pairs)][0], []
        budget = int(seq * 0.9) - len(tokenizer(prompt)["input_ids"]) - 1
        j = i
        while budget - sizes[j % len(pairs)] > 0:
            parts.append(pairs[j % len(pairs)][1])
            budget -= sizes[j % len(pairs)]
            j += 1
        rows.append((prompt, "".join(parts)))
    write_rows(path, rows)


def make_job(root: Path, stage: int, args: argparse.Namespace) -> Any:
    from lemma.config_models import TrainConfig
    from lemma.training.job import TrainJob

    return TrainJob(model_path=str(root / "model"), data_path=str(root / "rows.jsonl"),
                    output_dir=str(root / f"zero{stage}" / "out"), checkpoint_dir=str(root / f"zero{stage}" / "work"),
                    train=TrainConfig(max_steps=args.steps, global_batch=args.micro_batch * args.nproc,
                                      micro_batch=args.micro_batch, max_seq_len=args.seq, lr=1e-5,
                                      bf16=args.device == "cuda", packing=True, backend="deepspeed", zero_stage=stage,
                                      nproc_per_node=args.nproc, log_every=1, save_every=10_000, seed=0,
                                      gradient_checkpointing=True, gpu_memory_gb=args.gpu_memory_gb),
                    attn_implementation=args.attn, device=args.device)


def measure(job: Any, root: Path, n_params: int, peak: float | None) -> dict[str, Any]:
    from lemma.training.launch import run_job

    metrics = run_job(job, root / f"zero{job.train.zero_stage}")
    log = [json.loads(line) for line in (Path(job.checkpoint_dir) / "train_log.jsonl").read_text().splitlines()]
    steady = [row["tokens_per_s"] for row in log[1:]] or [metrics["tokens_per_s"]]
    tokens_per_s = statistics.median(steady)
    mfu = 6 * n_params * tokens_per_s / (peak * job.world_size) if peak else None
    return {"stage": job.train.zero_stage, "tokens_per_s": tokens_per_s, "mfu": mfu, "final_loss": metrics["final_loss"],
            "reload_ok": metrics["reload_ok"], "steps": metrics["steps"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="build config and jobs on CPU; no GPU needed")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--nproc", type=int, default=None, help="GPUs (default: all visible)")
    parser.add_argument("--stages", default="2,3")
    parser.add_argument("--attn", default="sdpa", help="sdpa | flash_attention_2 (needs flash-attn)")
    parser.add_argument("--gpu-memory-gb", type=float, default=80.0)
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--device", default="cuda", help="cuda, or cpu for a smoke run of this script itself")
    parser.add_argument("--shape", default="llama1b", choices=["llama1b", "smoke"], help="smoke: a 2-layer toy")
    args = parser.parse_args()

    import torch

    from lemma.training import preflight
    from lemma.training.deepspeed_config import build_config
    from lemma.training.launch import command

    if not args.dry_run and args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU visible; use --dry-run on a CPU machine", file=sys.stderr)
        return 2
    args.nproc = args.nproc or (torch.cuda.device_count() if torch.cuda.is_available() else 1)
    on_gpu = args.device == "cuda" and torch.cuda.is_available()
    name = torch.cuda.get_device_name(0) if on_gpu else ("cpu (dry run)" if args.dry_run else "cpu")
    peak = peak_flops(name)
    root = args.root or Path(tempfile.mkdtemp(prefix="gpu_check_zero_"))
    shape = LLAMA_1B if args.shape == "llama1b" else SMOKE
    n_params = build_model(root / "model", on_meta=args.dry_run, shape=shape)
    print(f"device: {name} x {args.nproc}; model: {n_params / 1e9:.2f}B params ({args.shape} shape), "
          f"seq {args.seq}, micro-batch {args.micro_batch}; peak {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s")
    results = []
    for stage in (int(s) for s in args.stages.split(",")):
        job = make_job(root, stage, args)
        est = preflight.estimate(preflight.setup_from_job(job, n_params / 1e9, "llama-1b"))
        print(f"ZeRO-{stage}: memory estimate {est.describe()}")
        if args.dry_run:
            print("  deepspeed:", json.dumps(build_config(job)["zero_optimization"]))
            print("  argv:", command(job, root / f"zero{stage}" / "job.yaml"))
            continue
        if stage == int(args.stages.split(",")[0]):
            long_rows(root / "rows.jsonl", root / "model", args.micro_batch * args.nproc * (args.steps + 1), args.seq)
        results.append(measure(job, root, n_params, peak))
        shutil.rmtree(root / f"zero{stage}" / "work", ignore_errors=True)  # ~17 GB of optimizer state
    for r in results:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a (unknown GPU peak)"
        print(f"ZeRO-{r['stage']}: {r['tokens_per_s']:,.0f} tokens/s ({r['tokens_per_s'] / args.nproc:,.0f} per GPU), "
              f"MFU {mfu}, final loss {r['final_loss']:.3f}, reload ok {r['reload_ok']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
