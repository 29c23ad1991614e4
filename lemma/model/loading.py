"""Load a model and tokenizer from a local folder or hub name: one code path for the tiny model and real checkpoints.

Generation, training and the post-save reload check all come through here, so a tiny-model test exercises the same
`from_pretrained` calls a Llama-3 run makes. Base-model tokenizers often have no pad token; pad = EOS then (the
loss mask, not the pad id, decides what is trained, and attention masks hide padding).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}


def parse_dtype(name: str | torch.dtype | None) -> torch.dtype:
    if name is None or name == "auto":
        return torch.float32
    if isinstance(name, torch.dtype):
        return name
    try:
        return _DTYPES[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; use one of {', '.join(_DTYPES)}") from None


def load_tokenizer(path: str | Path, padding_side: str | None = None) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"{path}: the tokenizer has neither a pad nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
    if padding_side is not None:
        tokenizer.padding_side = padding_side
    return tokenizer


def load_model(path: str | Path, dtype: str | torch.dtype | None = "float32", device: str | torch.device = "cpu",
               attn_implementation: str | None = None, **kwargs: Any) -> Any:
    """`AutoModelForCausalLM.from_pretrained` in `dtype` on `device` (eval mode)."""
    from transformers import AutoModelForCausalLM

    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=parse_dtype(dtype), **extra, **kwargs)
    model.to(device)
    model.eval()
    return model


def count_parameters(model: Any) -> int:
    """Unique parameters (tied weights once); under ZeRO-3 the full, not the partitioned, size."""
    return sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())
