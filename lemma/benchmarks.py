"""Benchmarks as data: a `benchmark.items.<name>` config -> pinned file -> Problem records and prompts.

Each item names its file, the sha256 of the exact copy its numbers refer to, the question fields and the gold rule
(EVALUATION.md §1). Files are checked against their hash before anything is generated, and a mismatch fails with the
file, both hashes and the fix, because a silently different copy (another MAWPS conversion, a re-serialised MATH)
changes published numbers. Questions are built as Qwen2.5-Math's `parse_question` builds them, golds with
`lemma.grading.normalize_gold`, prompts with the one shared template of `lemma.prompt_format` plus the shot demos.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lemma.demos import shots_for
from lemma.errors import LemmaError
from lemma.prompt_format import get_format
from lemma.records import Problem, read_jsonl

log = logging.getLogger(__name__)

_SOURCE_ID_FIELDS = ("idx", "id", "ID", "unique_id", "iIndex")
_META_FIELDS = ("level", "type", "subject", "solution_type", "Type", "data_topic", "subfield")


class BenchmarkFileError(LemmaError, ValueError):
    """A benchmark file is missing, unreadable or not the pinned copy; the message names the file and the fix."""


@dataclass
class Benchmark:
    """One loaded benchmark: its config item, its problems (dataset = the item's gold_kind) and where they came from."""
    name: str
    item: Any  # BenchmarkItem or its DictConfig node
    problems: list[Problem]
    source: str  # the file path, hub:<name>, or builtin:<path>
    file_sha256: str | None
    total: int  # items before `limit`
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def role(self) -> str:
        return str(self.item.role)


# ------------------------------------------------------------------------------------------------------ file hashes
def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(item: Any) -> str:
    """The file's sha256; raises BenchmarkFileError when it is missing or differs from `item.sha256`."""
    path = Path(str(item.path))
    where = f"benchmark.items.{item.name}"
    if not str(item.path):
        raise BenchmarkFileError(f"{where}.path is empty; point it at the benchmark file (source: file)")
    if not path.is_file():
        hub = (f"or read it from the hub with {where}.source=hub ({item.hub_name})" if item.hub_name
               else "(no hub dataset holds this copy)")
        raise BenchmarkFileError(
            f"{where}: {path} does not exist. The project ships it under data/benchmarks (data/SOURCES.md): restore "
            f"it from the repository (git checkout -- data), point paths.data or {where}.path at a copy, {hub}")
    actual = file_sha256(path)
    expected = item.sha256
    if expected is None:
        log.warning("%s: %s is not pinned (sha256 %s); results are not tied to a known copy", where, path, actual)
    elif actual != str(expected).lower():
        raise BenchmarkFileError(
            f"{where}: {path} has sha256 {actual}, but the config pins {expected}: this is not the copy the config "
            f"(and the published numbers) refer to. Fix: restore the original file (its origin is listed in "
            f"{path.parent.parent / 'SOURCES.md'}), or, to evaluate this copy on purpose, set "
            f"{where}.sha256={actual} (or null); its numbers are then not comparable to the pinned copy's")
    return actual


def check_files(benchmark_cfg: Any) -> list[str]:
    """Every file problem of a benchmark config (missing, hash mismatch), for validation before a run."""
    problems = []
    for item in benchmark_cfg["items"].values():
        if str(item.source) == "file":
            try:
                verify_file(item)
            except BenchmarkFileError as exc:
                problems.append(str(exc))
    return problems


# ----------------------------------------------------------------------------------------------------------- rows
def read_rows(item: Any) -> tuple[list[dict[str, Any]], str, str | None]:
    """(rows, source description, file sha256) for a file or hub item."""
    source = str(item.source)
    if source == "file":
        sha = verify_file(item)
        path = Path(str(item.path))
        return _read_file(path, str(item.format)), str(path), sha
    if source == "hub":
        return _read_hub(item), f"hub:{item.hub_name}", None
    raise ValueError(f"benchmark.items.{item.name}.source={source!r}: use file, hub or builtin")


def _read_file(path: Path, fmt: str) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if fmt == "json":
        data = json.loads(text)
        if not isinstance(data, list):
            raise BenchmarkFileError(f"{path}: format json expects a JSON array of records")
        return data
    if fmt != "jsonl":
        raise ValueError(f"{path}: unknown format {fmt!r}; use jsonl or json")
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise BenchmarkFileError(f"{path}:{lineno}: not JSON ({exc})") from exc
    return rows


def _read_hub(item: Any) -> list[dict[str, Any]]:
    if not item.hub_name:
        raise BenchmarkFileError(f"benchmark.items.{item.name}: source=hub needs hub_name; no hub dataset holds this "
                                 "benchmark's copy, so use source=file (the project ships it under data/)")
    from lemma.hub import hub_rows, require_fields

    where = f"benchmark.items.{item.name}"
    rows = hub_rows(str(item.hub_name), list(item.hub_configs), str(item.hub_split), where)
    require_fields(rows, [*item.question_fields, str(item.gold_field)], where, f"hub:{item.hub_name}")
    return rows


def field_value(row: Mapping[str, Any], path: str) -> Any:
    """`row[path]`, where a dotted path indexes nested records and lists: 'lSolutions.0' -> row['lSolutions'][0]."""
    value: Any = row
    for part in path.split("."):
        if isinstance(value, list) and part.lstrip("-").isdigit():
            value = value[int(part)]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            raise KeyError(f"field {path!r}: no {part!r} in {str(value)[:80]!r}")
    return value


# ------------------------------------------------------------------------------------------------------- problems
def question_of(row: Mapping[str, Any], item: Any) -> str:
    """The question text as Qwen2.5-Math's parse_question builds it: stripped fields joined by a space."""
    parts = [str(field_value(row, f)).strip() for f in item.question_fields]
    if str(item.gold_kind) == "svamp" and len(parts) > 1 and not parts[0].endswith("."):
        parts[0] += "."  # Qwen: the SVAMP body always ends with a period before the question
    return " ".join(p for p in parts if p).strip()


def gold_of(row: Mapping[str, Any], item: Any) -> str:
    from lemma.grading import normalize_gold

    return normalize_gold(field_value(row, str(item.gold_field)), str(item.gold_kind))


def to_problem(row: Mapping[str, Any], index: int, item: Any) -> Problem:
    gold = gold_of(row, item)
    question = question_of(row, item)
    if gold.lower() in ("true", "false"):  # Qwen's loader marks the answer space of boolean questions
        question += " (True or False)"
    elif gold.lower() in ("yes", "no"):
        question += " (Yes or No)"
    meta: dict[str, Any] = {"index": index}
    source_id = next((row[k] for k in _SOURCE_ID_FIELDS if k in row), None)
    if source_id is not None:
        meta["source_id"] = source_id
    meta.update({k: row[k] for k in _META_FIELDS if k in row and isinstance(row[k], (str, int, float))})
    return Problem(id=f"{item.name}-{index:05d}", dataset=str(item.gold_kind), question=question, reference="",
                   gold=gold, meta=meta)


def load_benchmark(item: Any, *, limit: int | None = None, builtin_path: Path | None = None) -> Benchmark:
    """Load one benchmark item: the first `limit` problems (all when None), golds canonical."""
    if limit is not None and limit < 1:
        raise ValueError(f"benchmark.limit={limit} must be at least 1 (or null for all)")
    if str(item.source) == "builtin":
        if builtin_path is None:
            raise ValueError(f"benchmark {item.name} is built in: it needs the problems artifact's {item.split} split")
        if not Path(builtin_path).is_file():
            raise BenchmarkFileError(f"benchmark {item.name} is built in, but the problems artifact has no "
                                     f"{item.split} split ({builtin_path}): a built-in world (data=relations or "
                                     f"data=arith) writes one when data.num_{item.split} > 0; or choose a file "
                                     f"benchmark such as benchmark=paper")
        problems = read_jsonl(Path(builtin_path), Problem)
        return Benchmark(str(item.name), item, problems[:limit], f"builtin:{builtin_path}",
                         file_sha256(Path(builtin_path)), len(problems))
    rows, source, sha = read_rows(item)
    chosen = rows[:limit] if limit is not None else rows
    problems = [to_problem(row, i, item) for i, row in enumerate(chosen)]
    return Benchmark(str(item.name), item, problems, source, sha, len(rows))


# -------------------------------------------------------------------------------------------------------- prompts
def build_prompt(question: str, item: Any) -> str:
    """The evaluation prompt: the shared template, preceded by `item.shots` GSM8K demos joined by a blank line."""
    return get_format(str(item.prompt_format)).render(question, shots=shots_for(int(item.shots)))


def prompt_sha(item: Any) -> str:
    """Hash of what decides the prompt besides the question: template and the demos actually shown."""
    fmt = get_format(str(item.prompt_format))
    payload = json.dumps([fmt.sha256, shots_for(int(item.shots))], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------- decontamination
TARGETS = "build.decontaminate_against"  # composed by Hydra (conf/build/decontaminate_against): in the build key


def target_items(build: Any) -> dict[str, Any]:
    """`build.decontaminate_against.items` by key: the benchmark items real data's SFT set must not overlap.

    Read from the config only (never from `benchmark`, never by globbing conf/), so what is evaluated never changes
    the SFT set, and every target's sha256 sits in the build key.
    """
    return dict(build.decontaminate_against["items"].items())


def target_file_problems(build: Any) -> list[str]:
    """The pre-flight's decontamination check: every target that is missing, not its pinned copy, or built in."""
    problems = []
    for key, item in target_items(build).items():
        try:
            _check_target(key, item)
            if str(item.source) == "file":
                verify_file(item)
        except BenchmarkFileError as exc:
            problems.append(_target_error(key, item, exc))
    return problems


def target_questions(build: Any) -> list[str]:
    """Questions of every target, for decontaminating SFT data.

    A target that cannot be read is an error, not a warning: skipping it would let its test questions leak into the
    SFT set unnoticed. The pre-flight checks the target files before any stage runs.
    """
    questions: list[str] = []
    for key, item in target_items(build).items():
        try:
            _check_target(key, item)
            questions += [p.question for p in load_benchmark(item).problems]
        except BenchmarkFileError as exc:
            raise BenchmarkFileError(_target_error(key, item, exc)) from exc
    return questions


def _check_target(key: str, item: Any) -> None:
    if str(item.source) == "builtin":
        raise BenchmarkFileError(f"{TARGETS}.items.{key} is a built-in world's {item.split} split: real data is "
                                 "decontaminated against benchmark files or hub datasets (a built-in world against "
                                 "its own test split, always)")


def _target_error(key: str, item: Any, exc: BenchmarkFileError) -> str:
    """The item's error, its keys and fixes named under build.decontaminate_against, plus how to drop the target."""
    where = f"{TARGETS}.items.{key}"
    text = str(exc).replace(f"benchmark.items.{item.name}", where)
    return (f"decontamination (build.decontaminate=true) reads every target of {TARGETS}: {text}. To drop this "
            f"target: '~{where}' (all of them: build/decontaminate_against=none)")
