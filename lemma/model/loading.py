"""Load a model and tokenizer from a local folder or hub name: one code path for the tiny model and real checkpoints.

Generation, training and the post-save reload check all come through here, so a tiny-model test exercises the same
`from_pretrained` calls a Llama-3 run makes. Base-model tokenizers often have no pad token; pad = EOS then (the
loss mask, not the pad id, decides what is trained, and attention masks hide padding).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from lemma.errors import LemmaError

log = logging.getLogger(__name__)

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

    with model_source(path):
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
    with model_source(path):
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=parse_dtype(dtype), **extra, **kwargs)
    model.to(device)
    model.eval()
    return model


class ModelUnavailable(LemmaError, OSError):
    """A model could not be loaded from its folder or the hub (offline, gated, misspelt); says how to fix it."""


@contextlib.contextmanager
def model_source(path: str | Path) -> Iterator[None]:
    """Turn transformers' OSError for an unreachable or missing model into a clear, traceback-free failure."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, ModelUnavailable):
            raise
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(
            f"could not load the model {path}: {first}. If it is a hub name and this machine is offline, download "
            f"it where there is network (huggingface-cli download {path}) and copy the Hugging Face cache here, or "
            "point model.path (or sample.student / teacher.model) at a local folder holding config.json, the "
            "tokenizer and the weights") from None


def resolve_attn_implementation(requested: str | None, on_gpu: bool) -> str | None:
    """The attention kernel to ask transformers for: flash_attention_2 only where it can run, else SDPA.

    FlashAttention-2 (the paper's setting, conf/model/llama3_8b.yaml) is an optional extra (`pip install -e
    '.[flash]'`, built against the installed torch and CUDA); without it, or without a GPU, `from_pretrained`
    would fail outright. PyTorch's SDPA gives the same results with more memory and time, so the run goes on with
    a warning that says how to get the faster kernel.
    """
    if requested != "flash_attention_2":
        return requested
    if not on_gpu:
        log.warning("model.attn_implementation=flash_attention_2 needs a CUDA GPU; using sdpa on this device")
        return "sdpa"
    if importlib.util.find_spec("flash_attn") is None:
        log.warning("model.attn_implementation=flash_attention_2, but flash-attn is not installed; using sdpa "
                    "(slower, more memory for long sequences). Install it with pip install -e '.[flash]' "
                    "(needs the CUDA toolkit; see pyproject.toml)")
        return "sdpa"
    return requested


def count_parameters(model: Any) -> int:
    """Unique parameters (tied weights once); under ZeRO-3 the full, not the partitioned, size."""
    return sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())
