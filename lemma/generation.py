"""Text generation backends for student sampling and evaluation: `hf` (batched transformers) and `vllm` (lazy).

Both return, per prompt, `n` Generation records with the raw text (cut at the first stop string), the number of new
tokens and whether the token budget cut it off, so reports can state the truncation rate (METHOD.md §7: 1024 new
tokens cut long MATH answers). The budget is capped at the model's context; a prompt that does not leave room for a
useful answer is cut from the left (its oldest demos go first) and flagged `prompt_truncated`.

`generate` loads the model per call and frees it afterwards, so a sampled student never stays resident while a later
stage trains. Inside `keep_loaded()` loaded engines are reused across calls (evaluate: one model, many benchmarks).
vLLM is imported only when `backend="vllm"` is chosen: CPU paths never import it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MIN_ANSWER_TOKENS = 64  # a prompt is left-truncated so that at least min(this, max_new_tokens) tokens remain


@dataclass(frozen=True)
class Generation:
    text: str
    new_tokens: int
    truncated: bool  # stopped by the token budget, not by EOS or a stop string
    prompt_truncated: bool = False  # the prompt was cut from the left to fit the context


@dataclass(frozen=True)
class SamplingSpec:
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0


_KEEP: dict[tuple[Any, ...], Any] | None = None  # engines kept alive inside keep_loaded()


@contextlib.contextmanager
def keep_loaded() -> Iterator[None]:
    """Reuse loaded models across generate() calls in this block; free them at its end."""
    global _KEEP
    outer = _KEEP is not None
    if not outer:
        _KEEP = {}
    try:
        yield
    finally:
        if not outer:
            engines, _KEEP = _KEEP or {}, None
            while engines:
                _free(engines.popitem()[1])


def generate(model_path: str, prompts: Sequence[str], spec: SamplingSpec, *, backend: str = "hf",
             batch_size: int = 32, device: str = "auto", tensor_parallel_size: int = 1,
             dtype: str | None = None, gpu_memory_utilization: float = 0.9) -> list[list[Generation]]:
    """`spec.n` generations per prompt, in prompt order."""
    if spec.n < 1:
        raise ValueError(f"n={spec.n} must be at least 1")
    if not prompts:
        return []
    backend = str(backend)
    if backend == "vllm":
        key: tuple[Any, ...] = ("vllm", model_path, tensor_parallel_size, dtype)
        return _with_engine(key, lambda: _load_vllm(model_path, tensor_parallel_size, dtype, gpu_memory_utilization,
                                                    spec.seed), lambda llm: _generate_vllm(llm, prompts, spec))
    if backend != "hf":
        raise ValueError(f"generation.backend={backend!r}: use hf or vllm")
    dev = _resolve_device(device)
    return _with_engine(("hf", model_path, dev, dtype), lambda: _load_hf(model_path, dev, dtype),
                        lambda engine: _generate_hf(engine, prompts, spec, batch_size))


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` at the earliest stop string; returns (text, whether a stop string was found)."""
    cuts = [i for s in stop if s and (i := text.find(s)) >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _with_engine(key: tuple[Any, ...], load: Callable[[], Any],
                 work: Callable[[Any], list[list[Generation]]]) -> list[list[Generation]]:
    """Run `work` on the engine for `key`: a kept one inside keep_loaded(), else a fresh one freed afterwards."""
    engine = _KEEP.get(key) if _KEEP is not None else None
    if engine is None:
        engine = load()
        if _KEEP is not None:
            _KEEP[key] = engine
    try:
        return work(engine)
    finally:
        kept = _KEEP is not None and key in _KEEP
        del engine
        if not kept:
            _release_memory()


def _free(engine: Any) -> None:
    shutdown = getattr(engine, "shutdown", None)  # recent vLLM releases can stop their engine core explicitly
    if callable(shutdown):
        with contextlib.suppress(Exception):
            shutdown()
    del engine
    _release_memory()


def _release_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


# ----------------------------------------------------------------------------------------------------------- hf
@dataclass
class _HFEngine:
    model: Any
    tokenizer: Any
    device: str
    context: int | None


def _load_hf(model_path: str, device: str, dtype: str | None) -> _HFEngine:
    import torch

    from lemma.model.loading import load_model, load_tokenizer

    if dtype is None:
        dtype = "bfloat16" if device.startswith("cuda") and torch.cuda.is_bf16_supported() else "float32"
    tokenizer = load_tokenizer(model_path, padding_side="left")
    model = load_model(model_path, dtype=dtype, device=device)
    context = getattr(model.config, "max_position_embeddings", None)
    return _HFEngine(model, tokenizer, device, int(context) if context else None)


def _generate_hf(engine: _HFEngine, prompts: Sequence[str], spec: SamplingSpec,
                 batch_size: int) -> list[list[Generation]]:
    import torch

    tok = engine.tokenizer
    ids = [tok(p, add_special_tokens=True)["input_ids"] for p in prompts]
    reserve = min(spec.max_new_tokens, MIN_ANSWER_TOKENS)
    max_prompt = engine.context - reserve if engine.context else None
    cut = [max_prompt is not None and len(x) > max_prompt for x in ids]
    if max_prompt is not None:
        ids = [x[-max_prompt:] for x in ids]
    if any(cut):
        log.warning("%d prompt(s) longer than the context allows (%s tokens) were cut from the left",
                    sum(cut), max_prompt)
    torch.manual_seed(spec.seed)
    out: list[list[Generation]] = [[] for _ in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(ids[i]))  # similar lengths share a batch; longest first
    flat = [(i, k) for i in order for k in range(spec.n)]
    for start in range(0, len(flat), max(1, batch_size)):
        chunk = flat[start:start + batch_size]
        for (i, _), gen in zip(chunk, _hf_batch(engine, [ids[i] for i, _ in chunk], spec), strict=True):
            out[i].append(Generation(gen.text, gen.new_tokens, gen.truncated, prompt_truncated=cut[i]))
    return out


def _hf_batch(engine: _HFEngine, batch_ids: list[list[int]], spec: SamplingSpec) -> list[Generation]:
    import torch

    tok = engine.tokenizer
    enc = tok.pad({"input_ids": batch_ids}, return_tensors="pt", padding=True).to(engine.device)
    width = enc["input_ids"].shape[1]
    budget = spec.max_new_tokens if not engine.context else max(1, min(spec.max_new_tokens, engine.context - width))
    sampling = spec.temperature > 0
    with torch.no_grad():
        seqs = engine.model.generate(
            **enc, max_new_tokens=budget, do_sample=sampling, temperature=spec.temperature if sampling else None,
            top_p=spec.top_p if sampling else None, top_k=0 if sampling else None,  # top_k=0: no top-k, as vLLM
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id, stop_strings=list(spec.stop) or None, tokenizer=tok)
    return [_decode_row(tok, row.tolist(), spec.stop, budget) for row in seqs[:, width:]]


def _decode_row(tok: Any, tokens: list[int], stop: Sequence[str], budget: int) -> Generation:
    """Text up to EOS, cut at the first stop string; tokens counted up to and including EOS."""
    eos, pad = tok.eos_token_id, tok.pad_token_id
    hit_eos = eos in tokens
    if hit_eos:
        tokens = tokens[: tokens.index(eos) + 1]
    else:
        while tokens and tokens[-1] == pad:  # rows that a stop string finished early are padded on the right
            tokens = tokens[:-1]
    text, hit_stop = cut_at_stop(tok.decode(tokens, skip_special_tokens=True), stop)
    truncated = not (hit_eos or hit_stop) and len(tokens) >= budget
    return Generation(text.strip(), len(tokens), truncated)


# --------------------------------------------------------------------------------------------------------- vllm
def _load_vllm(model_path: str, tensor_parallel_size: int, dtype: str | None, gpu_memory_utilization: float,
               seed: int) -> Any:
    try:
        from vllm import LLM
    except ImportError as exc:  # optional extra
        raise ImportError("generation.backend=vllm needs the gpu extra: pip install -e '.[gpu]'") from exc
    return LLM(model=model_path, tensor_parallel_size=tensor_parallel_size, seed=seed, dtype=dtype or "auto",
               gpu_memory_utilization=gpu_memory_utilization)


def _vllm_context(llm: Any) -> int | None:
    config = getattr(getattr(llm, "llm_engine", None), "model_config", None)
    value = getattr(config, "max_model_len", None)
    return int(value) if value else None


def _generate_vllm(llm: Any, prompts: Sequence[str], spec: SamplingSpec) -> list[list[Generation]]:
    from vllm import SamplingParams

    tok = llm.get_tokenizer()
    context = _vllm_context(llm)
    reserve = min(spec.max_new_tokens, MIN_ANSWER_TOKENS)
    requests, params, cut = [], [], []
    for prompt in prompts:
        ids = tok(prompt, add_special_tokens=True)["input_ids"]
        too_long = context is not None and len(ids) > context - reserve
        ids = ids[-(context - reserve):] if too_long and context is not None else ids
        budget = spec.max_new_tokens if context is None else max(1, min(spec.max_new_tokens, context - len(ids)))
        requests.append({"prompt_token_ids": ids})
        params.append(SamplingParams(n=spec.n, temperature=spec.temperature, top_p=spec.top_p, max_tokens=budget,
                                     stop=list(spec.stop) or None, seed=spec.seed))
        cut.append(too_long)
    results = llm.generate(requests, params)
    out = []
    for result, was_cut in zip(results, cut, strict=True):
        gens = []
        for o in result.outputs:
            text, _ = cut_at_stop(o.text, spec.stop)
            gens.append(Generation(text.strip(), len(o.token_ids), o.finish_reason == "length", was_cut))
        out.append(gens)
    return out
