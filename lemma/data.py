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


def _read_rows(data: DictConfig, dataset: str) -> list[dict[str, Any]]:
    if data.source == "hub":
        from datasets import load_dataset  # online users only; tests never reach the hub

        name = data.hub_names[dataset]
        return [dict(r) for r in load_dataset(name, "main" if dataset == "gsm8k" else None, split="train")]
    path = Path(data.path) / dataset / "train.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"data.path: no {path}; set data.path to a folder holding {dataset}/train.jsonl "
                                f"or use data.source=hub")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not JSON ({exc})") from exc
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
