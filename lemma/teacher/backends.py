"""The request backends an LLM teacher can send through, in one table keyed by `teacher.backend`.

Each entry builds its backend from `cfg.teacher` and the run's engines (lemma.engines: the local backends load their
model there, through lemma.generation); none loads a model, opens a connection or reads the API key here. vLLM and
transformers are imported only when a local backend first generates (lemma.teacher.local).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lemma.engines import Engines
from lemma.teacher.base import Backend
from lemma.teacher.clients import OpenAIBackend
from lemma.teacher.local import HFBackend, VLLMBackend


def _openai(t: Any, engines: Engines | None) -> Backend:
    return OpenAIBackend(str(t.model), t.base_url, str(t.api_key_env), float(t.request_timeout_s))


def _vllm(t: Any, engines: Engines | None) -> Backend:
    return VLLMBackend(str(t.model), int(t.tensor_parallel_size), float(t.gpu_memory_utilization), engines)


def _hf(t: Any, engines: Engines | None) -> Backend:
    return HFBackend(str(t.model), engines=engines)


BACKENDS: dict[str, Callable[[Any, Engines | None], Backend]] = {"openai": _openai, "vllm": _vllm, "hf": _hf}


def make_backend(teacher_cfg: Any, engines: Engines | None = None) -> Backend:
    """The backend `teacher.backend` names; a local one keeps its model in `engines` (else a registry of its own)."""
    backend = str(teacher_cfg.backend)
    if backend not in BACKENDS:
        raise ValueError(f"teacher.backend={backend!r} is not an LLM backend; use {', '.join(BACKENDS)}")
    return BACKENDS[backend](teacher_cfg, engines)
