"""The teacher interface: the six jobs of LEMMA's data synthesis, batched, with failures counted instead of raised.

Every job takes a list of requests and returns one `Outcome` per request, in order. Batches let LLM backends keep many
requests in flight; failures (unparseable replies, refusals, timeouts) come back as `Outcome(failure=...)` so a stage
can count and report them and never loses the rest of its batch (METHOD.md §10, defects 10-11).

This module is the protocol only: the data every teacher and request backend exchanges, and the `Teacher` and
backend Protocols. It imports no implementation, so implementations import it and `lemma.teacher.make_teacher` /
`lemma.teacher.backends.make_backend` import them, and the package has no import cycle.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from lemma.records import Problem
from lemma.strategies import Strategy
from lemma.taxonomy import ErrorType

V = TypeVar("V")


@dataclass(frozen=True)
class Outcome(Generic[V]):
    value: V | None = None
    failure: str | None = None  # short reason, e.g. "parse_failure", "invalid_step", "timeout"
    raw: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class Label:
    """classify: is the solution wrong, and with which error type."""
    verdict: str  # incorrect | correct | invalid
    error_type: ErrorType | None = None
    error_step: int | None = None  # some teachers find it while classifying; locate is authoritative


@dataclass(frozen=True)
class Location:
    verdict: str  # incorrect | correct | invalid
    step: int | None = None  # 1-based index into lemma.steps.split_steps(solution, problem.dataset)


@dataclass(frozen=True)
class Injection:
    text: str  # the flawed solution, ending "The answer is: <wrong>"
    explanation: str = ""
    intended_step: int | None = None


@dataclass(frozen=True)
class Revision:
    """A Fix & Continue or Fresh & Restart revision: what follows the kept prefix."""
    continuation: str  # starts with the reflection phrase
    reflection: str = ""
    clean: str | None = None  # the same problem solved without the error and the reflection (the `clean` arm's row)


@dataclass(frozen=True)
class ClassifyRequest:
    problem: Problem
    solution: str


@dataclass(frozen=True)
class LocateRequest:
    problem: Problem
    solution: str


@dataclass(frozen=True)
class InjectRequest:
    problem: Problem
    error_type: ErrorType
    draw: int  # index of this draw for the problem: seeds and cache keys differ per draw


@dataclass(frozen=True)
class ReviseRequest:
    problem: Problem
    prefix: str  # the flawed solution cut after its first wrong step (or whole, without truncation)
    error_type: ErrorType | None = None
    correct_solution: str | None = None  # Fresh & Restart, model-aware variant: a correct student solution


@dataclass(frozen=True)
class SmoothRequest:
    problem: Problem
    text: str


@dataclass
class TeacherUsage:
    """Running counters; stages record the difference of two snapshots in their manifest."""
    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    parse_failures: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    failure_reasons: Counter[str] = field(default_factory=Counter)
    # LLM teachers (lemma.teacher.llm): re-asks after unusable replies, and failed attempts by kind (each retried
    # attempt is also counted in `retries`; `failures` counts items dropped, with their reasons above)
    reasks: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    timeouts: int = 0
    connection_errors: int = 0

    def snapshot(self) -> TeacherUsage:
        return dataclasses.replace(self, failure_reasons=Counter(self.failure_reasons))

    def since(self, before: TeacherUsage) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "failure_reasons":
                out[f.name] = dict(self.failure_reasons - before.failure_reasons)
            else:
                value = getattr(self, f.name) - getattr(before, f.name)
                out[f.name] = round(value, 6) if isinstance(value, float) else value
        return out


@runtime_checkable
class Teacher(Protocol):
    name: str
    model: str
    usage: TeacherUsage

    @property
    def injectable_types(self) -> frozenset[ErrorType]: ...

    def classify(self, requests: list[ClassifyRequest]) -> list[Outcome[Label]]: ...

    def locate(self, requests: list[LocateRequest]) -> list[Outcome[Location]]: ...

    def inject(self, requests: list[InjectRequest]) -> list[Outcome[Injection]]: ...

    def revise(self, strategy: Strategy, requests: list[ReviseRequest]) -> list[Outcome[Revision]]: ...

    def smooth(self, requests: list[SmoothRequest]) -> list[Outcome[str]]: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------------------- request backends
Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Reply:
    text: str
    finish_reason: str = "stop"
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None = None  # the per-request seed (derived from teacher.seed, draw and attempt)

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens, "seed": self.seed}


@runtime_checkable
class RemoteBackend(Protocol):
    """An endpoint (lemma.teacher.clients): calls run concurrently under the limiter, one client per batch."""
    name: str
    model: str
    remote: bool  # True

    @property
    def endpoint(self) -> str: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def send(self, messages: Messages, sampling: Sampling) -> Reply: ...


@runtime_checkable
class LocalBackend(Protocol):
    """An in-process model (lemma.teacher.local): generates a chunk of prompts at once, holds the GPU while loaded."""
    name: str
    model: str
    remote: bool  # False
    chunk_size: int

    def generate(self, prompts: list[Messages], sampling: list[Sampling]) -> list[Reply]: ...

    @property
    def loaded(self) -> bool: ...

    def close(self) -> None: ...


Backend = RemoteBackend | LocalBackend
