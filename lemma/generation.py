"""Text generation backends for student sampling and evaluation: `hf` (batched transformers) and `vllm` (lazy),
and `auto`, which picks vLLM where CUDA and vLLM are both present (the paper evaluated with vLLM) and hf otherwise.

Both return, per prompt, `n` Generation records with the raw text (cut at the first stop string), the number of new
tokens and whether the token budget cut it off, so reports can state the truncation rate (METHOD.md §7: 1024 new
tokens cut long MATH answers). The budget is capped at the model's context; a prompt that does not leave room for a
useful answer is cut from the left (its oldest demos go first) and flagged `prompt_truncated`.

`chat` answers chat conversations, one reply each with its own sampling and seed: a local teacher's requests
(lemma.teacher.local is a thin adapter over it). It loads a model exactly as `generate` does, under the same engine
key, so this module is the one place that loads and runs in-process models, and a teacher and a student that name
the same model share one engine.

Without `engines`, `generate` and `chat` load the model per call and free it afterwards. With the run's
`lemma.engines.Engines` (owned by `Services`) the engine stays loaded across calls (evaluate: one model, many
benchmarks) until the pipeline releases it before a stage that needs the GPU for something else; `user` ("student",
"teacher") says which of the stage's `uses` keeps it. With `progress` (lemma.progress) each finished sequence is
counted as it ends. vLLM is imported only when it is chosen: CPU paths never import it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lemma.engines import Engines, release_cuda_memory, shutdown_engine

log = logging.getLogger(__name__)
W = TypeVar("W")

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
    seed: int | None = 0  # chat: None leaves vLLM unseeded (transformers then seeds 0)


@dataclass(frozen=True)
class Completion:
    """One `chat` reply: the text as decoded, why it ended ("stop" or "length") and its token counts."""
    text: str
    finish_reason: str
    prompt_tokens: int
    new_tokens: int


@contextlib.contextmanager
def keep_loaded() -> Iterator[Engines]:
    """A private Engines registry for a block of generate(..., engines=...) calls, released at its end."""
    engines = Engines()
    try:
        yield engines
    finally:
        engines.release()


def choose_backend(requested: str, *, cuda: bool | None = None, vllm_installed: bool | None = None,
                   model_kind: str | None = None) -> str:
    """`auto` -> vllm where CUDA and vLLM are present (and the model is not the tiny CPU one), else hf."""
    requested = str(requested)
    if requested != "auto":
        return requested
    if model_kind == "tiny":  # seconds of work: vLLM's start-up (CUDA graphs, KV cache) would cost more
        return "hf"
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    if vllm_installed is None:
        vllm_installed = importlib.util.find_spec("vllm") is not None
    return "vllm" if cuda and vllm_installed else "hf"


def generate(model_path: str, prompts: Sequence[str], spec: SamplingSpec, *, backend: str = "hf",
             batch_size: int = 32, device: str = "auto", tensor_parallel_size: int = 1,
             dtype: str | None = None, gpu_memory_utilization: float = 0.9, engines: Engines | None = None,
             progress: Any = None) -> list[list[Generation]]:
    """`spec.n` generations per prompt, in prompt order."""
    if spec.n < 1:
        raise ValueError(f"n={spec.n} must be at least 1")
    if not prompts:
        return []
    key, load = _loader(model_path, choose_backend(str(backend)), device, tensor_parallel_size, dtype,
                        gpu_memory_utilization, spec.seed)
    if key[0] == "vllm":
        return _with_engine(engines, key, load, lambda llm: _generate_vllm(llm, prompts, spec, progress))
    return _with_engine(engines, key, load,
                        lambda engine: _generate_hf(engine, prompts, spec, batch_size, progress))


def chat(model_path: str, conversations: Sequence[list[dict[str, str]]], specs: Sequence[SamplingSpec], *,
         backend: str = "hf", device: str = "auto", tensor_parallel_size: int = 1, dtype: str | None = None,
         gpu_memory_utilization: float = 0.9, engines: Engines | None = None,
         user: str = "teacher") -> list[Completion]:
    """One reply per conversation (the model's chat template, `spec.n` ignored, no stop strings), in order."""
    if len(conversations) != len(specs):
        raise ValueError(f"{len(conversations)} conversations but {len(specs)} sampling specs")
    if not conversations:
        return []
    key, load = _loader(model_path, choose_backend(str(backend)), device, tensor_parallel_size, dtype,
                        gpu_memory_utilization, None)
    if key[0] == "vllm":
        return _with_engine(engines, key, load, lambda llm: _chat_vllm(llm, conversations, specs), user)
    return _with_engine(engines, key, load,
                        lambda engine: [_chat_hf(engine, c, s) for c, s in zip(conversations, specs)], user)


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` at the earliest stop string; returns (text, whether a stop string was found)."""
    cuts = [i for s in stop if s and (i := text.find(s)) >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _loader(model_path: str, backend: str, device: str, tensor_parallel_size: int, dtype: str | None,
            gpu_memory_utilization: float, seed: int | None) -> tuple[tuple[Any, ...], Callable[[], Any]]:
    """The engine key of a model and how to load it; `generate` and `chat` share both, so they share engines."""
    if backend == "vllm":
        return (("vllm", model_path, tensor_parallel_size, dtype or "auto"),
                lambda: _load_vllm(model_path, tensor_parallel_size, dtype, gpu_memory_utilization, seed))
    if backend != "hf":
        raise ValueError(f"generation.backend={backend!r}: use auto, hf or vllm")
    dev = _resolve_device(device)
    dt = _hf_dtype(dev, dtype)
    return ("hf", model_path, dev, dt), lambda: _load_hf(model_path, dev, dt)


def _with_engine(engines: Engines | None, key: tuple[Any, ...], load: Callable[[], Any], work: Callable[[Any], W],
                 user: str = "student") -> W:
    """Run `work` on the engine for `key`: the run's kept one (Engines), else a fresh one shut down afterwards."""
    if engines is not None:
        return work(engines.get(key, load, user))
    engine = load()
    try:
        return work(engine)
    finally:
        shutdown_engine(engine)
        del engine
        release_cuda_memory()


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


def _hf_dtype(device: str, dtype: str | None) -> str:
    if dtype not in (None, "auto"):
        return str(dtype)
    import torch

    return "bfloat16" if device.startswith("cuda") and torch.cuda.is_bf16_supported() else "float32"


def _load_hf(model_path: str, device: str, dtype: str) -> _HFEngine:
    from lemma.model.loading import load_model, load_tokenizer

    tokenizer = load_tokenizer(model_path, padding_side="left")
    model = load_model(model_path, dtype=dtype, device=device)
    context = getattr(model.config, "max_position_embeddings", None)
    return _HFEngine(model, tokenizer, device, int(context) if context else None)


def _generate_hf(engine: _HFEngine, prompts: Sequence[str], spec: SamplingSpec,
                 batch_size: int, progress: Any = None) -> list[list[Generation]]:
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
        if progress is not None:
            progress.advance(len(chunk))
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


def _chat_hf(engine: _HFEngine, messages: list[dict[str, str]], spec: SamplingSpec) -> Completion:
    """One conversation at a time, seeded per request (a teacher's replies must not depend on its batch)."""
    import torch

    tok, model = engine.tokenizer, engine.model
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    ids = {k: v.to(model.device) for k, v in ids.items()}
    torch.manual_seed(spec.seed if spec.seed is not None else 0)
    sample = spec.temperature > 0
    extra = {"temperature": spec.temperature, "top_p": spec.top_p} if sample else {}
    with torch.no_grad():
        out = model.generate(**ids, do_sample=sample, max_new_tokens=spec.max_new_tokens,
                             pad_token_id=tok.pad_token_id or tok.eos_token_id, **extra)
    prompt_len = ids["input_ids"].shape[1]
    new = out[0, prompt_len:]
    finish = "length" if len(new) >= spec.max_new_tokens else "stop"
    return Completion(tok.decode(new, skip_special_tokens=True), finish, int(prompt_len), int(len(new)))


# --------------------------------------------------------------------------------------------------------- vllm
def _load_vllm(model_path: str, tensor_parallel_size: int, dtype: str | None, gpu_memory_utilization: float,
               seed: int | None) -> Any:
    try:
        from vllm import LLM
    except ImportError as exc:  # optional extra
        raise ImportError("backend=vllm needs vLLM, the gpu extra: pip install 'lemma[gpu]' (from a checkout: "
                          "pip install -e '.[gpu]'); a teacher can instead use teacher=openai against a `vllm serve` "
                          "endpoint") from exc
    seeded = {} if seed is None else {"seed": seed}
    return LLM(model=model_path, tensor_parallel_size=tensor_parallel_size, dtype=dtype or "auto",
               gpu_memory_utilization=gpu_memory_utilization, **seeded)


def _vllm_context(llm: Any) -> int | None:
    config = getattr(getattr(llm, "llm_engine", None), "model_config", None)
    value = getattr(config, "max_model_len", None)
    return int(value) if value else None


def _generate_vllm(llm: Any, prompts: Sequence[str], spec: SamplingSpec,
                   progress: Any = None) -> list[list[Generation]]:
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
    # vLLM counts finished requests through `use_tqdm`; a callable stands in for its tqdm bar (lemma.progress)
    from lemma.progress import VLLMProgressBar

    results = llm.generate(requests, params,
                           use_tqdm=VLLMProgressBar.factory(progress, per_update=spec.n) if progress else False)
    out = []
    for result, was_cut in zip(results, cut, strict=True):
        gens = []
        for o in result.outputs:
            text, _ = cut_at_stop(o.text, spec.stop)
            gens.append(Generation(text.strip(), len(o.token_ids), o.finish_reason == "length", was_cut))
        out.append(gens)
    return out


def _chat_vllm(llm: Any, conversations: Sequence[list[dict[str, str]]],
               specs: Sequence[SamplingSpec]) -> list[Completion]:
    from vllm import SamplingParams

    params = [SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_new_tokens, seed=s.seed)
              for s in specs]
    completions = []
    for output in llm.chat(list(conversations), params, use_tqdm=False):
        best = output.outputs[0]
        completions.append(Completion(best.text, best.finish_reason or "stop", len(output.prompt_token_ids or []),
                                      len(best.token_ids or [])))
    return completions
