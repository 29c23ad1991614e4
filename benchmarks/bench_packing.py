"""Packing on vs off on the tiny model: real-token share and tokens/s, side by side (DESIGN.md §9 b5).

    python benchmarks/bench_packing.py [--steps 40] [--batch 32] [--rows 512]

Three runs through the real driver and worker (train=cpu): padded batches in random order, padded batches grouped
by length (the default when packing is off) and packed (padding-free) rows. Packing keeps the examples of every
step, so the loss is the same (tests/integration/test_train_packing.py); only the wasted compute changes.
On CPU (sdpa) a packed micro-batch is one row with a block-diagonal mask, so attention is quadratic in the whole
row: packing is exact there but slower than length-grouped padding. It pays with flash_attention_2 on a GPU, whose
varlen kernel attends per example (the collator passes cu_seq_lens).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from lemma.training.job import TrainJob
from lemma.training.launch import run_job
from lemma.training.synthetic import tiny_setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--root", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    root = args.root or Path(tempfile.mkdtemp(prefix="bench_packing_"))
    model, rows = tiny_setup(root, n=args.rows)  # the TinyModelConfig defaults: the model `python run.py` trains
    variants = {"padded, random order": {"packing": False, "group_by_length": False},
                "padded, grouped by length": {"packing": False, "group_by_length": True},
                "packed (padding-free)": {"packing": True}}
    print(f"tiny model, {args.rows} rows, {args.steps} steps x global batch {args.batch}, 1 process, torch backend")
    print(f"{'variant':28s} {'real tokens':>12s} {'tokens/s':>10s} {'train s':>8s} {'final loss':>10s}")
    for name, change in variants.items():
        slug = name.split(",")[0].split(" ")[0] + str(change.get("group_by_length", ""))
        job = TrainJob(model_path=str(model), data_path=str(rows), output_dir=str(root / slug / "model"),
                       checkpoint_dir=str(root / slug / "work"), max_steps=args.steps, global_batch=args.batch,
                       log_every=10, save_every=10_000, **change)
        m = run_job(job, root / slug)
        print(f"{name:28s} {100 * (1 - m['padding_share']):11.1f}% {m['tokens_per_s']:10,.0f} "
              f"{m['train_seconds']:8.1f} {m['final_loss']:10.4f}")


if __name__ == "__main__":
    main()
