"""In-process teacher backends for unit tests: scripted replies, no HTTP. Test scaffolding only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lemma.teacher.accounting import Ledger, Prices
from lemma.teacher.base import Messages, Reply, Sampling, TeacherUsage
from lemma.teacher.cache import RequestCache
from lemma.teacher.engine import Engine
from lemma.teacher.limiter import CircuitBreaker, Limiter, RetryPolicy
from lemma.teacher.llm import LLMTeacher

Script = Callable[[Messages, Sampling], "Reply | str | Exception"]


class ScriptedBackend:
    """`script(messages, sampling)` returns a Reply, a text (wrapped in a Reply), or an exception to raise."""

    name = "scripted"
    model = "scripted-model"
    endpoint = "scripted://endpoint"
    chunk_size = 8

    def __init__(self, script: Script, remote: bool = True) -> None:
        self.script = script
        self.remote = remote
        self.calls: list[tuple[Messages, Sampling]] = []

    async def __aenter__(self) -> ScriptedBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send(self, messages: Messages, sampling: Sampling) -> Reply:
        return self._answer(messages, sampling)

    def generate(self, prompts: list[Messages], sampling: list[Sampling]) -> list[Reply]:
        return [self._answer(m, s) for m, s in zip(prompts, sampling)]

    def _answer(self, messages: Messages, sampling: Sampling) -> Reply:
        self.calls.append((messages, sampling))
        out = self.script(messages, sampling)
        if isinstance(out, Exception):
            raise out
        return out if isinstance(out, Reply) else Reply(out, "stop", 100, 20)


async def no_sleep(seconds: float) -> None:
    return None


def make_teacher(tmp: Path, script: Script, *, remote: bool = True, max_reasks: int = 2, seed: int | None = 0,
                 max_retries: int = 3, breaker: int = 25, prices: Prices | None = None,
                 max_cost_usd: float | None = None, max_tokens: int = 1000, sleep: Any = no_sleep) -> LLMTeacher:
    backend = ScriptedBackend(script, remote=remote)
    usage = TeacherUsage()
    limiter = Limiter(8, RetryPolicy(max_retries, 0.01, 0.05), CircuitBreaker(breaker, backend.endpoint),
                      sleep=sleep) if remote else None
    ledger = Ledger(usage, prices or Prices(), max_cost_usd)
    engine = Engine(backend, RequestCache(tmp, backend.model), ledger, usage, 0.7, 1.0, max_tokens, seed, limiter)
    return LLMTeacher("scripted", engine, "default", max_reasks)
