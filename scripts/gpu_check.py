"""GPU check, one script, one table (about 5 minutes on one H100/H200): vLLM generation, the engine release that must
come before training, and ZeRO-2 training of a randomly initialised ~0.5B Llama, through lemma's own code paths.

    python scripts/gpu_check.py                     # on a GPU node with `pip install -e ".[dev,gpu]"`
    python scripts/gpu_check.py --smoke             # CPU: the same steps, tiny shapes, hf instead of vLLM, no ZeRO

What runs, in order, as the pipeline runs it:
1. a small Llama (head_dim 64, so vLLM's kernels take it) and a byte-level BPE tokenizer are built locally and
   saved in HF format (no download);
2. `lemma.generation.generate(backend="vllm")` generates from it into the run's `Services.engines`, which keeps
   the engine loaded as a stage would (tokens/s);
3. `Services.release_for("train.lemma", uses=("trainer",))`, what the pipeline calls before a training stage,
   shuts the engine down; GPU memory in use is read (nvidia-smi, device-wide, so the vLLM engine-core process is
   counted) while the engine is loaded and after the release;
4. `lemma.training.launch.run_job` trains a random ~0.5B Llama with DeepSpeed ZeRO-2 in bf16 for a few dozen steps
   in a child process (torchrun), as `train=zero2` does, on full-length rows; tokens/s is the median over the
   logged steps after the first, and MFU = 6 * parameters * tokens/s / (dense bf16 peak x GPUs) (attention FLOPs
   not counted, so it slightly understates).
The order of events (load, generate, release, train) is recorded and checked, then one table is printed. The exit
code is non-zero if a check failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)) if str(REPO) not in sys.path else None  # run from a checkout without installing

# dense bf16 tensor-core peaks in FLOP/s (vendor data sheets, without sparsity); specific names first
PEAK_BF16 = (("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H200", 989e12), ("H100", 989e12), ("H20", 148e12),
             ("A100", 312e12), ("L40S", 362e12), ("L40", 181e12), ("A10G", 70e12), ("L4", 121e12))
GEN_SHAPE = {"hidden_size": 512, "intermediate_size": 1408, "num_hidden_layers": 4, "num_attention_heads": 8,
             "num_key_value_heads": 8, "max_position_embeddings": 2048}  # head_dim 64
TRAIN_SHAPE = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 28, "num_attention_heads": 16,
               "num_key_value_heads": 8, "max_position_embeddings": 4096}  # ~0.47B with a 32k vocabulary
SMOKE_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 1,
               "num_key_value_heads": 1, "max_position_embeddings": 512}
TRAIN_VOCAB = 32000


def peak_flops(name: str) -> float | None:
    return next((value for key, value in PEAK_BF16 if key in name), None)


def nvidia_smi(field: str) -> str | None:
    """One field of GPU 0 from nvidia-smi: device-wide (every process), and CUDA is not initialised here, so vLLM
    keeps its default way of starting its engine process."""
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        return out.strip().splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def gpu_used_gib() -> float | None:
    value = nvidia_smi("memory.used")
    try:
        return float(value) / 1024 if value is not None else None
    except ValueError:
        return None


def build_tokenizer(texts: list[str], vocab_size: int = 2048) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainer=trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<s>", "</s>", "<pad>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   model_max_length=1 << 30, clean_up_tokenization_spaces=False)


def build_model(folder: Path, shape: dict[str, int], vocab: int, tokenizer: Any, dtype: str) -> int:
    """A seeded random Llama saved with its tokenizer; returns the parameter count."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**shape, vocab_size=vocab, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def full_rows(path: Path, tokenizer: Any, pairs: list[tuple[str, str]], n: int, seq: int) -> None:
    """n training rows of ~90% of `seq` tokens: a prompt, then solutions appended until the row is full."""
    from lemma.training.data import write_rows

    sizes = [len(tokenizer(c, add_special_tokens=False)["input_ids"]) for _, c in pairs]
    rows = []
    for i in range(n):
        prompt, parts, budget, j = pairs[i % len(pairs)][0], [], int(seq * 0.9) - 64, i
        while budget - sizes[j % len(pairs)] > 0:
            parts.append(pairs[j % len(pairs)][1])
            budget -= sizes[j % len(pairs)]
            j += 1
        rows.append((prompt, "".join(parts)))
    write_rows(path, rows)


class Timeline:
    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []
        self.start = time.monotonic()

    def mark(self, what: str) -> None:
        self.events.append((time.monotonic() - self.start, what))
        print(f"[{self.events[-1][0]:6.1f}s] {what}", flush=True)

    def names(self) -> list[str]:
        return [e.split(":")[0] for _, e in self.events]


def generation_step(args: argparse.Namespace, model_dir: Path, pairs: list[tuple[str, str]], services: Any,
                    timeline: Timeline) -> dict[str, Any]:
    from lemma.generation import SamplingSpec, generate
    from lemma.progress import Progress

    backend = "hf" if args.smoke else "vllm"
    prompts = [q for q, _ in pairs[: args.prompts]]
    spec = SamplingSpec(n=1, temperature=0.7, max_new_tokens=args.gen_tokens, seed=0)
    timeline.mark(f"engine.load: {backend} engine for {model_dir.name}")
    start = time.perf_counter()
    with Progress("gpu check: generate", len(prompts), interval_s=10, unit="samples") as progress:
        gens = generate(str(model_dir), prompts, spec, backend=backend, device="cpu" if args.smoke else "auto",
                        batch_size=64, dtype="bfloat16" if not args.smoke else "float32",
                        gpu_memory_utilization=args.gpu_memory_utilization, engines=services.engines,
                        progress=progress)
    seconds = time.perf_counter() - start
    new_tokens = sum(g.new_tokens for per in gens for g in per)
    timeline.mark(f"engine.generate: {len(prompts)} prompts, {new_tokens} new tokens")
    return {"backend": backend, "new_tokens": new_tokens, "seconds": seconds,
            "tokens_per_s": new_tokens / seconds, "kept": len(services.engines)}


def release_step(services: Any, timeline: Timeline) -> dict[str, Any]:
    held = gpu_used_gib()
    released = services.release_for("train.lemma", ("trainer",))  # what the pipeline does before a training stage
    time.sleep(2)  # the engine-core process exits asynchronously
    after = gpu_used_gib()
    timeline.mark(f"engine.release: {', '.join(released) or 'nothing held'}")
    return {"held_gib": held, "after_gib": after, "released": released, "kept": len(services.engines)}


def training_step(args: argparse.Namespace, root: Path, tokenizer: Any, pairs: list[tuple[str, str]],
                  timeline: Timeline) -> dict[str, Any]:
    from lemma.config_models import TrainConfig
    from lemma.training.job import TrainJob
    from lemma.training.launch import run_job

    shape = SMOKE_SHAPE if args.smoke else TRAIN_SHAPE
    model_dir = root / "train_model"
    n_params = build_model(model_dir, shape, len(tokenizer) if args.smoke else TRAIN_VOCAB, tokenizer,
                           "float32" if args.smoke else "bfloat16")
    full_rows(root / "rows.jsonl", tokenizer, pairs, args.micro_batch * (args.steps + 1), args.seq)
    job = TrainJob(model_path=str(model_dir), data_path=str(root / "rows.jsonl"),
                   output_dir=str(root / "zero2" / "out"), checkpoint_dir=str(root / "zero2" / "work"),
                   train=TrainConfig(max_steps=args.steps, global_batch=args.micro_batch, micro_batch=args.micro_batch,
                                     max_seq_len=args.seq, lr=1e-4, bf16=not args.smoke, packing=False, seed=0,
                                     backend="torch" if args.smoke else "deepspeed", zero_stage=0 if args.smoke else 2,
                                     nproc_per_node=1, log_every=1, save_every=10_000, gradient_checkpointing=False,
                                     gpu_memory_gb=args.gpu_gb),
                   attn_implementation="sdpa", device="cpu" if args.smoke else "cuda")
    timeline.mark(f"train.start: ZeRO-{job.train.zero_stage}, {n_params / 1e9:.2f}B parameters")
    metrics = run_job(job, root / "zero2")
    log = [json.loads(line) for line in (Path(job.checkpoint_dir) / "train_log.jsonl").read_text().splitlines()]
    timeline.mark(f"train.end: {metrics['steps']} steps")
    steady = [row["tokens_per_s"] for row in log[1:] if row.get("tokens_per_s")] or [metrics["tokens_per_s"]]
    shutil.rmtree(Path(job.checkpoint_dir), ignore_errors=True)
    return {"n_params": n_params, "tokens_per_s": statistics.median(steady), "final_loss": metrics["final_loss"],
            "first_loss": log[0]["loss"] if log else None, "steps": metrics["steps"],
            "reload_ok": metrics.get("reload_ok")}


def table(rows: list[tuple[str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line]
    for k, r in enumerate(rows):
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        if k == 0:
            out.append(line)
    return "\n".join(out + [line])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU plumbing check: tiny shapes, hf, no DeepSpeed")
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--gen-tokens", type=int, default=256)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--gpu-gb", type=float, default=141.0, help="per-GPU memory for the pre-flight estimate")
    parser.add_argument("--root", type=Path, default=None)
    args = parser.parse_args()
    if args.smoke:
        args.prompts, args.gen_tokens, args.steps, args.seq, args.micro_batch = 16, 16, 4, 256, 2

    import torch
    from omegaconf import OmegaConf

    from lemma.config import LemmaConfig
    from lemma.pipeline import Services
    from lemma.training.synthetic import corpus, make_pairs

    name = "cpu (smoke)"
    if not args.smoke:
        if not torch.cuda.is_available():
            print("no CUDA GPU visible; run with --smoke on a CPU machine", file=sys.stderr)
            return 2
        name = nvidia_smi("name") or "unknown GPU"
    root = args.root or Path(tempfile.mkdtemp(prefix="lemma_gpu_check_"))
    timeline = Timeline()
    pairs = make_pairs(max(args.prompts, 400), seed=1)
    tokenizer = build_tokenizer(corpus(pairs), 512 if args.smoke else 2048)
    gen_dir = root / "gen_model"
    build_model(gen_dir, SMOKE_SHAPE if args.smoke else GEN_SHAPE, len(tokenizer), tokenizer,
                "float32" if args.smoke else "bfloat16")
    services = Services(OmegaConf.structured(LemmaConfig), root / "cache")
    idle = gpu_used_gib()
    gen = generation_step(args, gen_dir, pairs, services, timeline)
    rel = release_step(services, timeline)
    train = training_step(args, root, tokenizer, pairs, timeline)
    services.close()

    order_ok = timeline.names() == ["engine.load", "engine.generate", "engine.release", "train.start", "train.end"]
    measured = rel["held_gib"] is not None and rel["after_gib"] is not None
    freed = rel["held_gib"] - rel["after_gib"] if measured else None
    engine_gib = (rel["held_gib"] - idle) if rel["held_gib"] is not None and idle is not None else None
    release_ok = rel["kept"] == 0 and (freed is None or engine_gib is None or freed >= 0.9 * engine_gib)
    peak = peak_flops(name)
    mfu = 6 * train["n_params"] * train["tokens_per_s"] / peak if peak and not args.smoke else None
    train_ok = train["reload_ok"] is not False and train["final_loss"] < train["first_loss"]
    memory = ("n/a (no nvidia-smi)" if freed is None else
              f"{rel['held_gib']:.1f} GiB in use with the engine, {rel['after_gib']:.1f} GiB after release "
              f"(idle {idle:.1f})")
    rows = [("check", "result", "figures"),
            (f"generation ({gen['backend']}), {args.prompts} prompts x {args.gen_tokens} new tokens",
             "ok" if gen["new_tokens"] > 0 and gen["kept"] == 1 else "FAIL",
             f"{gen['tokens_per_s']:,.0f} new tokens/s ({gen['seconds']:.1f} s)"),
            ("engine released before training (Services.release_for)", "ok" if release_ok else "FAIL", memory),
            (f"ZeRO-{0 if args.smoke else 2} training, {train['n_params'] / 1e9:.2f}B random Llama, {train['steps']} "
             f"steps, seq {args.seq} x {args.micro_batch}", "ok" if train_ok else "FAIL",
             f"{train['tokens_per_s']:,.0f} tokens/s, MFU " + (f"{100 * mfu:.1f}%" if mfu else "n/a")
             + f", loss {train['first_loss']:.2f} -> {train['final_loss']:.2f}"),
            ("order: load -> generate -> release -> train", "ok" if order_ok else "FAIL",
             " -> ".join(timeline.names())),
            ("device", "", f"{name}; total {time.monotonic() - timeline.start:.0f} s")]
    print(table(rows))
    return 0 if all(r[1] != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
