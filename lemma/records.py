"""Typed records that flow between stages, stored as JSONL with a schema version.

One record type per thing the method talks about: a problem, a student attempt, a flawed solution (self-made or
injected) with its error label and step, a revised trajectory, and an SFT example with full lineage (METHOD.md §3.10).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

SCHEMA_VERSION = 1
T = TypeVar("T")


@dataclass
class Problem:
    id: str
    dataset: str  # arith | gsm8k | math: an explicit field, never inferred from a directory name
    question: str
    reference: str  # step-by-step reference solution ending "The answer is: <gold>"
    gold: str  # canonical gold answer
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. the arith world's computation


@dataclass
class Attempt:
    """One student sample for a problem, graded."""
    id: str
    problem_id: str
    sample_index: int
    text: str
    extracted: str | None
    correct: bool


@dataclass
class Flawed:
    """A wrong solution with (once known) its error type and first wrong step."""
    id: str
    problem_id: str
    source: str  # self | injected
    text: str
    extracted: str | None = None
    error_type: str | None = None  # ErrorType value; for injected errors the intended type until located
    error_step: int | None = None  # 1-based first wrong step, None until located
    num_steps: int | None = None
    intended_step: int | None = None  # the injector's own claim, a cross-check of obedience
    explanation: str = ""


@dataclass
class Trajectory:
    """error -> reflection -> correct solution, as a training target."""
    id: str
    flawed_id: str
    problem_id: str
    source: str
    error_type: str | None
    error_step: int | None
    strategy: str  # fix | fresh
    prefix: str  # the flawed text kept before the reflection
    continuation: str  # reflection phrase and everything after it
    reflection: str = ""
    truncated: bool = True
    smoothed: bool = False
    smoothed_text: str | None = None  # the teacher's smoothed rewrite of prefix + continuation
    extracted: str | None = None
    verified: bool = False
    clean: str | None = None  # the same problem's solution without the error and the reflection, when the teacher
    # can write it (the symbolic teacher can); the `clean` control arm trains on it

    @property
    def text(self) -> str:
        return self.smoothed_text or join_trajectory(self.prefix, self.continuation)


def join_trajectory(prefix: str, continuation: str) -> str:
    return prefix.rstrip() + "\n" + continuation.lstrip()


@dataclass
class SFTExample:
    """One training row: the question and the response, plus lineage for data-mix ablations without regeneration."""
    id: str
    problem_id: str
    dataset: str
    question: str
    response: str
    source: str  # self | injected | reference
    error_type: str | None = None
    error_step: int | None = None
    strategy: str | None = None  # fix | fresh | None for plain SFT rows
    truncated: bool | None = None
    smoothed: bool | None = None
    teacher: str | None = None
    student: str | None = None
    clean_response: str | None = None  # the `clean` arm's row for this example (Trajectory.clean)
    error_span: list[int] | None = None  # [start, end) of the wrong step in `response` (lineage)
    masked_spans: list[list[int]] = field(default_factory=list)  # spans of `response` with no loss (with
    # build.mask_error_lines: the wrong step, "context, not a target")


def to_json(record: Any) -> dict[str, Any]:
    data = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else dict(record)
    return {"schema_version": SCHEMA_VERSION, **data}


def from_json(cls: type[T], data: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def write_jsonl(path: Path, records: Iterable[Any]) -> int:
    """Write records atomically (temp file + rename); returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(to_json(record), ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def read_jsonl(path: Path, cls: type[T]) -> list[T]:
    return list(iter_jsonl(path, cls))


def iter_jsonl(path: Path, cls: type[T]) -> Iterator[T]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield from_json(cls, json.loads(line))
            except (json.JSONDecodeError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: not a valid {cls.__name__} record ({exc})") from exc
