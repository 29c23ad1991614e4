"""SFT data for the worker: tokenise once, mask the prompt, append EOS, batch identically at any world size.

- Tokenised once, in the driver, into `checkpoint_dir/tokens-<hash>.npz`, keyed by the rows' bytes, the tokenizer's
  fingerprint and max_seq_len: a resumed or multi-rank run never re-tokenises (DESIGN.md §9 b7).
- Loss on the response only, EOS appended and trained (b6: base models that never learned to stop). The prompt is
  tokenised alone, exactly as generation will see it; the completion follows without special tokens.
- Rows longer than max_seq_len are dropped and counted (truncating would cut off the EOS, b6).
- `GlobalBatchSampler` draws each optimizer step's examples from a seeded permutation independent of the world size
  and hands each rank its micro-batches, so `train=cpu`, `zero2` and `zero3` see the same data per step and their
  loss curves can be compared; it also makes the data position exact on resume.
- Packing (b5) is padding-free flattening (transformers' DataCollatorWithFlattening): a micro-batch becomes one row
  with position ids restarting per example; attention sees no other example (exact on CPU with use_cache=False).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

CACHE_VERSION = 2
IGNORE = -100


Row = tuple  # (prompt, completion) or (prompt, completion, masked): masked = [[start, end), ...] in the completion


def write_rows(path: Path, rows: list[Row]) -> int:
    """The rows file a TrainJob reads: one {"prompt", "completion"[, "masked"]} object per line (atomic write).

    `masked` character spans of the completion are context, not targets: their tokens get no loss.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as fh:
        for prompt, completion, *rest in rows:
            row: dict[str, Any] = {"prompt": prompt, "completion": completion}
            if rest and rest[0]:
                row["masked"] = [list(span) for span in rest[0]]
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return len(rows)


def read_rows(path: Path) -> list[tuple[str, str, list[list[int]]]]:
    rows = []
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                row = json.loads(line)
                if "prompt" not in row or "completion" not in row:
                    raise ValueError(f"{path}:{lineno}: a training row needs 'prompt' and 'completion'")
                rows.append((row["prompt"], row["completion"], row.get("masked") or []))
    return rows


def tokenizer_fingerprint(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    specials = json.dumps([type(tokenizer).__name__, tokenizer.bos_token_id, tokenizer.eos_token_id], default=str)
    return hashlib.sha256((body + specials).encode()).hexdigest()[:16]


def encode_pairs(tokenizer: Any, rows: list[Row]) -> tuple[list[list[int]], list[int], list[list[int]] | None]:
    """Token ids (prompt + completion + EOS), prompt lengths and, when some row masks spans, per-token loss flags.

    The loss covers everything after the prompt, except completion tokens that overlap a masked character span.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no EOS token: a base model would never learn to stop (DESIGN.md b6)")
    prompts = tokenizer([r[0] for r in rows], add_special_tokens=True)["input_ids"]
    completions = tokenizer([r[1] for r in rows], add_special_tokens=False, return_offsets_mapping=True)
    ids = [list(p) + list(c) + [eos] for p, c in zip(prompts, completions["input_ids"])]
    masked = [list(r[2]) if len(r) > 2 and r[2] else [] for r in rows]
    if not any(masked):
        return ids, [len(p) for p in prompts], None
    flags = []
    for p, offsets, spans in zip(prompts, completions["offset_mapping"], masked):
        keep = [0 if any(a < end and b > start for start, end in spans) else 1 for a, b in offsets]
        flags.append([0] * len(p) + keep + [1])
    return ids, [len(p) for p in prompts], flags


@dataclass
class TokenizedSet:
    """Flat token ids with offsets: compact, memory-mappable, identical on every rank."""
    ids: np.ndarray
    offsets: np.ndarray
    prompt_lens: np.ndarray
    loss_flags: np.ndarray | None = None  # per token, 0 = no loss (a masked span); None = every response token

    def __len__(self) -> int:
        return len(self.prompt_lens)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def example(self, i: int) -> dict[str, list[int]]:
        ids = self.ids[self.offsets[i]:self.offsets[i + 1]].tolist()
        labels = list(ids)
        labels[: int(self.prompt_lens[i])] = [IGNORE] * int(self.prompt_lens[i])
        if self.loss_flags is not None:
            flags = self.loss_flags[self.offsets[i]:self.offsets[i + 1]]
            labels = [t if f else IGNORE for t, f in zip(labels, flags.tolist())]
        return {"input_ids": ids, "labels": labels}


def tokenize_to_cache(rows_path: Path, tokenizer: Any, max_seq_len: int, cache_dir: Path) -> tuple[Path, dict]:
    """Tokenise the rows once; later calls with the same rows, tokenizer and length return the cached file."""
    digest = hashlib.sha256()
    digest.update(Path(rows_path).read_bytes())
    digest.update(f"{tokenizer_fingerprint(tokenizer)}|{max_seq_len}|{CACHE_VERSION}".encode())
    path = Path(cache_dir) / f"tokens-{digest.hexdigest()[:16]}.npz"
    stats_path = path.with_suffix(".json")
    if path.is_file() and stats_path.is_file():
        return path, {**json.loads(stats_path.read_text()), "cache_hit": True}
    pairs = read_rows(rows_path)
    ids, prompt_lens, flags = encode_pairs(tokenizer, pairs)
    keep = [i for i, seq in enumerate(ids) if len(seq) <= max_seq_len and prompt_lens[i] < len(seq)]
    if not keep:
        raise ValueError(f"{rows_path}: none of {len(pairs)} rows fits train.max_seq_len={max_seq_len}")
    lengths = np.array([len(ids[i]) for i in keep], dtype=np.int64)
    data = {"ids": np.concatenate([np.asarray(ids[i], dtype=np.int32) for i in keep]),
            "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "prompt_lens": np.asarray([prompt_lens[i] for i in keep], dtype=np.int32)}
    if flags is not None:
        data["loss_flags"] = np.concatenate([np.asarray(flags[i], dtype=np.uint8) for i in keep])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npz")
    np.savez(tmp, **data)
    os.replace(tmp, path)
    stats = {"rows": len(pairs), "examples": len(keep), "dropped_too_long": len(pairs) - len(keep),
             "tokens": int(lengths.sum()), "trained_tokens": int(lengths.sum() - data["prompt_lens"].sum()
                                                                  - _masked_count(data, flags is not None)),
             "mean_length": round(float(lengths.mean()), 1), "max_length": int(lengths.max())}
    stats_path.write_text(json.dumps(stats))
    return path, {**stats, "cache_hit": False}


def _masked_count(data: dict[str, np.ndarray], has_flags: bool) -> int:
    """Response tokens a masked span takes out of the loss (prompt tokens are flagged 0 too, and not counted)."""
    if not has_flags:
        return 0
    return int((data["loss_flags"] == 0).sum() - data["prompt_lens"].sum())


def load_tokenized(path: Path) -> TokenizedSet:
    with np.load(path) as data:
        flags = data["loss_flags"] if "loss_flags" in data.files else None
        return TokenizedSet(data["ids"], data["offsets"], data["prompt_lens"], flags)


class SFTDataset(Dataset):
    def __init__(self, data: TokenizedSet) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.data.example(int(i))


class GlobalBatchSampler(Sampler[list[int]]):
    """Yields this rank's micro-batches; the examples of every optimizer step do not depend on the world size.

    Per epoch: a permutation seeded by (seed, epoch); with `group_by_length`, windows of `window` global batches are
    sorted by length before being cut (less padding; the order of the global batches is shuffled again). Global
    batch b is split into world*accum micro-batches; micro-batch k goes to rank k % world at accumulation step
    k // world. The last incomplete global batch is dropped (the next epoch reshuffles).
    """

    def __init__(self, lengths: np.ndarray, global_batch: int, micro_batch: int, world_size: int, rank: int,
                 seed: int, group_by_length: bool, window: int = 16) -> None:
        if global_batch % (micro_batch * world_size):
            raise ValueError(f"global batch {global_batch} is not a multiple of {micro_batch} x {world_size}")
        self.lengths, self.global_batch, self.micro_batch = np.asarray(lengths), global_batch, micro_batch
        self.world_size, self.rank, self.seed = world_size, rank, seed
        self.group_by_length, self.window, self.epoch = group_by_length, window, 0
        self.steps_per_epoch = len(self.lengths) // global_batch
        if self.steps_per_epoch == 0:
            raise ValueError(f"{len(self.lengths)} examples do not fill one global batch of {global_batch}; "
                             "lower train.global_batch")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_batches(self) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        order = order[: self.steps_per_epoch * self.global_batch]
        if self.group_by_length:
            span = self.window * self.global_batch
            order = [i for s in range(0, len(order), span)
                     for i in sorted(order[s:s + span], key=lambda j: -int(self.lengths[j]))]
        batches = [order[b * self.global_batch:(b + 1) * self.global_batch] for b in range(self.steps_per_epoch)]
        if self.group_by_length:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        mb = self.micro_batch
        for batch in self.global_batches():
            chunks = [batch[k * mb:(k + 1) * mb] for k in range(len(batch) // mb)]
            yield from chunks[self.rank::self.world_size]

    def __len__(self) -> int:
        return self.steps_per_epoch * self.global_batch // (self.micro_batch * self.world_size)


class EpochDataLoader(DataLoader):
    """A DataLoader whose set_epoch reaches the batch sampler (the HF Trainer calls it every epoch)."""

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)  # type: ignore[union-attr]


class PadCollator:
    """Right padding; labels of padding are IGNORE; attention_mask hides padding."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids[row, :n] = torch.tensor(f["input_ids"])
            labels[row, :n] = torch.tensor(f["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def make_collator(packing: bool, pad_id: int, flash_attention: bool = False) -> Any:
    if not packing:
        return PadCollator(pad_id)
    from transformers import DataCollatorWithFlattening

    return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE,
                                      return_flash_attn_kwargs=flash_attention)


def token_counts(batch: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(real tokens, tokens computed on) of a collated batch: their ratio is the padding share."""
    total = batch["input_ids"].numel()
    mask = batch.get("attention_mask")
    return (int(mask.sum()) if mask is not None else total), total
