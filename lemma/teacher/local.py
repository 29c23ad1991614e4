"""Local teacher backends: a vLLM offline engine (e.g. the paper's Nemotron-70B comparison, Table 8) and plain
transformers generation for small models.

Both are imported and built lazily, on the first batch that needs them, so API-only runs never need vLLM (the original
imported it everywhere, METHOD.md §10 defect 10) and configs can be validated without loading weights. They generate
a whole chunk of prompts at once; the engine caches each chunk's replies before any is used. `close()` shuts the
model down and frees its GPU memory (lemma.engines.shutdown_engine); the pipeline calls it before a stage that
needs the GPU for something else (training, the student), and the next request loads the model again.
"""

from __future__ import annotations

from typing import Any

from lemma.teacher.base import Messages, Reply, Sampling


class VLLMBackend:
    name = "vllm"
    remote = False
    chunk_size = 512  # prompts per generate call: large enough to batch well, small enough to cache progress

    def __init__(self, model: str, tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9) -> None:
        self.model = model
        self.tensor_parallel_size = tensor_parallel_size
        self.gpu_memory_utilization = gpu_memory_utilization
        self._llm: Any = None

    def __repr__(self) -> str:
        return f"VLLMBackend(model={self.model!r}, tensor_parallel_size={self.tensor_parallel_size})"

    def _engine(self) -> Any:
        if self._llm is None:
            try:
                from vllm import LLM
            except ImportError as exc:
                raise ImportError("teacher=vllm needs vLLM: pip install 'lemma[gpu]' (or use teacher=openai against "
                                  "a `vllm serve` endpoint)") from exc
            self._llm = LLM(model=self.model, tensor_parallel_size=self.tensor_parallel_size,
                            gpu_memory_utilization=self.gpu_memory_utilization)
        return self._llm

    def generate(self, prompts: list[Messages], sampling: list[Sampling]) -> list[Reply]:
        from vllm import SamplingParams

        params = [SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens, seed=s.seed)
                  for s in sampling]
        outputs = self._engine().chat(prompts, params, use_tqdm=False)
        return [_vllm_reply(o) for o in outputs]

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def close(self) -> None:
        from lemma.engines import shutdown_engine

        llm, self._llm = self._llm, None
        if llm is not None:
            shutdown_engine(llm)


def _vllm_reply(output: Any) -> Reply:
    best = output.outputs[0]
    return Reply(text=best.text, finish_reason=best.finish_reason or "stop",
                 input_tokens=len(output.prompt_token_ids or []), output_tokens=len(best.token_ids or []))


class HFBackend:
    """transformers generation, one prompt at a time with a per-request seed: for small local teachers and tests."""

    name = "hf"
    remote = False
    chunk_size = 16

    def __init__(self, model: str, device: str | None = None) -> None:
        self.model = model
        self.device = device
        self._tokenizer: Any = None
        self._model: Any = None

    def __repr__(self) -> str:
        return f"HFBackend(model={self.model!r})"

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._tokenizer = AutoTokenizer.from_pretrained(self.model)
        self._model = AutoModelForCausalLM.from_pretrained(self.model, dtype="auto").to(device).eval()

    def generate(self, prompts: list[Messages], sampling: list[Sampling]) -> list[Reply]:
        self._load()
        return [self._one(m, s) for m, s in zip(prompts, sampling)]

    def _one(self, messages: Messages, sampling: Sampling) -> Reply:
        import torch

        tok, model = self._tokenizer, self._model
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        ids = {k: v.to(model.device) for k, v in ids.items()}
        torch.manual_seed(sampling.seed if sampling.seed is not None else 0)
        sample = sampling.temperature > 0
        extra = {"temperature": sampling.temperature, "top_p": sampling.top_p} if sample else {}
        with torch.no_grad():
            out = model.generate(**ids, do_sample=sample, max_new_tokens=sampling.max_tokens,
                                 pad_token_id=tok.pad_token_id or tok.eos_token_id, **extra)
        prompt_len = ids["input_ids"].shape[1]
        new = out[0, prompt_len:]
        finish = "length" if len(new) >= sampling.max_tokens else "stop"
        return Reply(tok.decode(new, skip_special_tokens=True), finish, int(prompt_len), int(len(new)))

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def close(self) -> None:
        from lemma.engines import release_cuda_memory

        loaded = self._model is not None
        self._model = self._tokenizer = None
        if loaded:
            release_cuda_memory()
