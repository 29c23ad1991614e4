"""Text generation backends for student sampling and evaluation: `hf` (batched transformers) and `vllm` (lazy).

Both return, per prompt, `n` Generation records with the raw text (cut at the first stop string), the number of new
tokens and whether the budget cut it off, so reports can state the truncation rate (METHOD.md §7: 1024 new tokens
cut long MATH answers).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generation:
    text: str
    new_tokens: int
    truncated: bool  # stopped by the token budget, not by EOS or a stop string


@dataclass(frozen=True)
class SamplingSpec:
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0


def generate(model_path: str, prompts: Sequence[str], spec: SamplingSpec, *, backend: str = "hf",
             batch_size: int = 32, device: str = "auto", tensor_parallel_size: int = 1) -> list[list[Generation]]:
    if backend == "vllm":
        return _generate_vllm(model_path, prompts, spec, tensor_parallel_size)
    if backend != "hf":
        raise ValueError(f"generation.backend={backend!r}: use hf or vllm")
    return _generate_hf(model_path, prompts, spec, batch_size, device)


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` at the earliest stop string; returns (text, whether a stop string was found)."""
    cuts = [i for s in stop if (i := text.find(s)) >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _generate_hf(model_path: str, prompts: Sequence[str], spec: SamplingSpec, batch_size: int,
                 device: str) -> list[list[Generation]]:
    import torch

    from lemma.model.loading import load_model, load_tokenizer

    dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    tokenizer = load_tokenizer(model_path)
    tokenizer.padding_side = "left"
    model = load_model(model_path, device=dev).eval()
    limit = getattr(model.config, "max_position_embeddings", None)
    torch.manual_seed(spec.seed)
    out: list[list[Generation]] = [[] for _ in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths share a batch: less padding
    flat = [(i, k) for i in order for k in range(spec.n)]
    for start in range(0, len(flat), batch_size):
        chunk = flat[start:start + batch_size]
        texts = [prompts[i] for i, _ in chunk]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=True).to(dev)
        budget = spec.max_new_tokens
        if limit:
            budget = max(1, min(budget, limit - enc["input_ids"].shape[1]))
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=budget, do_sample=spec.temperature > 0,
                                 temperature=spec.temperature if spec.temperature > 0 else None,
                                 top_p=spec.top_p if spec.temperature > 0 else None,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                 stop_strings=list(spec.stop) or None, tokenizer=tokenizer)
        new = ids[:, enc["input_ids"].shape[1]:]
        for row, (i, _) in enumerate(chunk):
            tokens = new[row]
            n_new = int((tokens != tokenizer.pad_token_id).sum())
            hit_eos = bool((tokens == tokenizer.eos_token_id).any())
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            text, hit_stop = cut_at_stop(text, spec.stop)
            out[i].append(Generation(text.strip(), n_new, truncated=not (hit_eos or hit_stop) and n_new >= budget))
    return out


def _generate_vllm(model_path: str, prompts: Sequence[str], spec: SamplingSpec,
                   tensor_parallel_size: int) -> list[list[Generation]]:
    try:
        from vllm import LLM, SamplingParams
    except ImportError as exc:  # optional extra
        raise ImportError("generation.backend=vllm needs the gpu extra: pip install -e '.[gpu]'") from exc
    llm = LLM(model=model_path, tensor_parallel_size=tensor_parallel_size, seed=spec.seed)
    params = SamplingParams(n=spec.n, temperature=spec.temperature, top_p=spec.top_p,
                            max_tokens=spec.max_new_tokens, stop=list(spec.stop) or None, seed=spec.seed)
    results = llm.generate(list(prompts), params)
    return [[Generation(o.text.strip(), len(o.token_ids), o.finish_reason == "length") for o in r.outputs]
            for r in results]
