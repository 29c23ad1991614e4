"""Train problems: the built-in arith world, or GSM8K and MATH train files (local JSONL or the HF hub).

Reference solutions are normalised as the original code shows them to the teacher (METHOD.md §2): GSM8K's `####`
becomes "The answer is:", MATH's solution gets " The answer is: {gold}" appended. The dataset is an explicit field
of every record; the original inferred it from a directory name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lemma.errors import LemmaError
from lemma.records import Problem

_CALCULATOR_NOTE = re.compile(r"<<[^<>]*>>")


def load_train_problems(data: DictConfig) -> list[Problem]:
    problems: list[Problem] = []
    for dataset in data.datasets:
        rows = _read_rows(data, dataset)
        if data.limit is not None:
            rows = rows[: data.limit]
        problems += [_to_problem(dataset, i, row, data.strip_calculator_annotations) for i, row in enumerate(rows)]
    return problems


TRAIN_FIELDS = {"gsm8k": ("question", "answer"), "math": ("problem", "solution")}


class TrainDataError(LemmaError, ValueError):
    """A train file is missing, changed or malformed; the message names the file and the fix."""


def train_file(data: DictConfig, dataset: str) -> Path:
    return Path(data.path) / dataset / "train.jsonl"


def train_file_problems(data: DictConfig, datasets: list[str] | None = None) -> list[str]:
    """Missing, unpinned or changed local train files: the pre-flight's check, repeated when a file is read."""
    from lemma.benchmarks import file_sha256

    problems = []
    for dataset in data.datasets if datasets is None else datasets:
        path, pinned = train_file(data, dataset), data.sha256.get(dataset)
        if not path.is_file():
            problems.append(f"data.path: no {path}; the project ships {dataset}/train.jsonl under data/train "
                            f"(data/SOURCES.md): restore it (git checkout -- data), point data.path at a folder "
                            f"holding {dataset}/train.jsonl, or use data.source=hub")
        elif pinned is None:
            problems.append(f"data.sha256.{dataset} is not set: pin the file so results are tied to a known copy "
                            f"(data.sha256.{dataset}={file_sha256(path)} pins the one at {path})")
        elif file_sha256(path) != str(pinned).lower():
            problems.append(f"data.sha256.{dataset}: {path} has sha256 {file_sha256(path)}, but the config pins "
                            f"{pinned}: not the copy the config refers to. Restore the original (data/SOURCES.md), "
                            f"or, to train on this copy on purpose, set data.sha256.{dataset}={file_sha256(path)}")
    return problems


def _read_rows(data: DictConfig, dataset: str) -> list[dict[str, Any]]:
    if dataset not in TRAIN_FIELDS:
        raise TrainDataError(f"data.datasets: unknown dataset {dataset!r}; use gsm8k and/or math")
    if data.source == "hub":
        from lemma.hub import hub_rows, require_fields

        name = data.hub_names[dataset]
        rows = hub_rows(name, list(data.hub_configs.get(dataset) or []), str(data.hub_split), f"data.hub_names.{dataset}")
        require_fields(rows, TRAIN_FIELDS[dataset], f"data.hub_names.{dataset}", f"hub:{name}")
        return rows
    problems = train_file_problems(data, [dataset])
    if problems:
        raise TrainDataError(problems[0])
    path = train_file(data, dataset)
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise TrainDataError(f"{path}:{lineno}: not JSON ({exc}); restore the file (data/SOURCES.md)") from exc
    return rows


def _to_problem(dataset: str, index: int, row: dict[str, Any], strip_notes: bool) -> Problem:
    from lemma.grading import normalize_gold

    if dataset == "gsm8k":
        question, solution = row["question"], row["answer"]
        gold = normalize_gold(solution, "gsm8k")
        body = solution.split("####")[0].rstrip()
        if strip_notes:
            body = _CALCULATOR_NOTE.sub("", body)
        reference = f"{body}\nThe answer is: {gold}"
    elif dataset == "math":
        question, solution = row["problem"], row["solution"]
        gold = normalize_gold(solution, "math")
        reference = f"{solution.rstrip()} The answer is: {gold}"
    else:
        raise ValueError(f"data.datasets: unknown dataset {dataset!r}; use gsm8k and/or math")
    meta = {k: row[k] for k in ("level", "type") if k in row}
    return Problem(id=f"{dataset}-train-{index:05d}", dataset=dataset, question=question, reference=reference,
                   gold=gold, meta=meta)
