"""Local teacher backends: a vLLM offline engine (e.g. the paper's Nemotron-70B comparison, Table 8) and plain
transformers generation for small models.

Both are thin adapters over `lemma.generation.chat`, the one stack that loads and runs in-process models: it renders
each conversation with the model's chat template and samples it with its own seed. The model lives in an
`lemma.engines.Engines` registry under the user "teacher": the run's registry (Services passes it through
`make_teacher`), so a teacher and a student that name the same model share one engine, or a private one for a
teacher built on its own. Nothing is imported or loaded before the first batch, so API-only runs never need vLLM or
torch (the original imported vLLM everywhere, METHOD.md §10 defect 10). They generate a whole chunk of prompts at
once; the engine caches each chunk's replies before any is used. `close()` gives the model up (it is shut down unless
the student still uses it); the pipeline does that before a stage that needs the GPU for something else, and the
next request loads the model again.
"""

from __future__ import annotations

from typing import Any

from lemma.engines import Engines
from lemma.generation import SamplingSpec, chat
from lemma.teacher.base import Messages, Reply, Sampling

USER = "teacher"  # the engine user of a local teacher (a stage's `uses` keeps it loaded)


class _LocalModel:
    name: str
    remote = False
    chunk_size: int

    def __init__(self, model: str, engines: Engines | None, **load: Any) -> None:
        self.model = model
        self.engines = engines if engines is not None else Engines()
        self._load = load

    def generate(self, prompts: list[Messages], sampling: list[Sampling]) -> list[Reply]:
        specs = [SamplingSpec(temperature=s.temperature, top_p=s.top_p, max_new_tokens=s.max_tokens, seed=s.seed)
                 for s in sampling]
        done = chat(self.model, prompts, specs, backend=self.name, engines=self.engines, user=USER, **self._load)
        return [Reply(c.text, c.finish_reason, c.prompt_tokens, c.new_tokens) for c in done]

    @property
    def loaded(self) -> bool:
        return self.engines.holds(USER)

    def close(self) -> None:
        self.engines.drop(USER)


class VLLMBackend(_LocalModel):
    name = "vllm"
    chunk_size = 512  # prompts per generate call: large enough to batch well, small enough to cache progress

    def __init__(self, model: str, tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9,
                 engines: Engines | None = None) -> None:
        super().__init__(model, engines, tensor_parallel_size=tensor_parallel_size,
                         gpu_memory_utilization=gpu_memory_utilization)
        self.tensor_parallel_size = tensor_parallel_size
        self.gpu_memory_utilization = gpu_memory_utilization

    def __repr__(self) -> str:
        return f"VLLMBackend(model={self.model!r}, tensor_parallel_size={self.tensor_parallel_size})"


class HFBackend(_LocalModel):
    """transformers generation, one prompt at a time with a per-request seed: for small local teachers and tests."""

    name = "hf"
    chunk_size = 16

    def __init__(self, model: str, device: str | None = None, engines: Engines | None = None) -> None:
        super().__init__(model, engines, device=device or "auto")
        self.device = device

    def __repr__(self) -> str:
        return f"HFBackend(model={self.model!r})"
