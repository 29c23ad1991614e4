"""The arms of the comparison and the rows each one trains on.

- `base`: the student before any fine-tuning (no rows).
- `sft`: reference solutions only (the paper's "SFT" baseline).
- `clean`: the control that LEMMA must beat: the rows of `lemma`, each trajectory replaced by the same problem's
  solution without the error and the reflection (Trajectory.clean; the reference where a teacher cannot write one).
- `lemma`: the error -> reflection -> correction trajectories of `build`.

With `build.trajectory_share` set, the arms are matched (TOY_SCIENCE point 4): each trains exactly
`train.max_steps x train.global_batch` rows, one pass, from the same checkpoint. Row i of every arm is the same
reference, except in a seeded share of the slots, where `lemma` has a trajectory, `clean` its error-free twin and
`sft` keeps the reference. With the same count and the same training seed the batches hold the same slots, so the
arms differ only in what the method changes. Trajectories take slots that would hold clean solutions, so lemma sees
fewer of them; `build.lemma_budget=clean_solutions` gives the view at equal clean solutions (lemma trains longer).
Without `build.trajectory_share` (the paper's sets) `lemma` trains on the trajectories alone and `sft` on the
references, as in paper Table 2.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lemma.prompt_format import get_format
from lemma.records import Problem, SFTExample
from lemma.stage_names import Arm

ARMS = tuple(a.value for a in Arm)  # base, sft, clean, lemma: the schema's `arms` takes these (lemma.stage_names)
TRAINED_ARMS = ("sft", "clean", "lemma")
ARM_TITLES = {"base": "Base model (warm-up)", "sft": "SFT on references", "clean": "Clean control (same rows, no errors)",
              "lemma": "LEMMA"}

Row = tuple[str, str, list[list[int]]]  # (prompt, completion, masked character spans of the completion)


@dataclass(frozen=True)
class ArmRows:
    rows: list[Row]
    trajectories: int  # rows with an error and a reflection
    clean_solutions: int  # rows that are one error-free solution (references, clean twins)


def arm_steps(arm: str, max_steps: int, share: float, budget: str) -> int:
    """Optimizer steps of a matched arm. With `build.lemma_budget=clean_solutions` lemma trains longer, so that the
    clean solutions it sees (its reference rows) are at least those of sft and clean: ceil(max_steps / (1 - share))."""
    if arm == "lemma" and budget == "clean_solutions":
        return math.ceil(max_steps / (1 - share))
    return max_steps


def _seeded(seed: int, salt: str) -> random.Random:
    return random.Random(f"{seed}|{salt}")


def _cycle(items: Sequence[Any], n: int, rng: random.Random) -> list[Any]:
    """`n` items: seeded permutations of `items`, one after another."""
    out: list[Any] = []
    while len(out) < n:
        order = list(items)
        rng.shuffle(order)
        out += order
    return out[:n]


def _masked(example: SFTExample, separator: str) -> list[list[int]]:
    """The example's no-loss spans (build.mask_error_lines) moved into the completion (separator + stripped text)."""
    shift = len(separator) - (len(example.response) - len(example.response.lstrip()))
    return [[start + shift, end + shift] for start, end in example.masked_spans]


def _twin(example: SFTExample, references: dict[str, str]) -> str:
    """The clean arm's row for an example: the teacher's error-free twin, else the problem's reference."""
    return example.clean_response or references[example.problem_id]


def matched_rows(arm: str, problems: list[Problem], examples: list[SFTExample], *, n_rows: int, share: float,
                 seed: int, prompt_format: str) -> ArmRows:
    """The `n_rows` rows of `arm` under the slot scheme of the module docstring."""
    fmt = get_format(prompt_format)
    if not problems:
        raise ValueError("matched arms need train problems with references (the reference slots); for data without "
                         "references train lemma on its trajectories alone: arms=[base,lemma] "
                         "build.trajectory_share=null")
    if arm != "sft" and not examples:
        raise ValueError(f"train.{arm}: build made no trajectories to put in the trajectory slots")
    refs = _cycle(problems, n_rows, _seeded(seed, "references"))
    n_traj = round(share * n_rows) if arm != "sft" else 0
    slots = set(_seeded(seed, "slots").sample(range(n_rows), round(share * n_rows)))
    pool = _cycle(examples, n_traj, _seeded(seed, "trajectories")) if n_traj else []
    references = {p.id: p.reference for p in problems}
    rows: list[Row] = []
    k = 0
    for i in range(n_rows):
        if arm != "sft" and i in slots:
            ex = pool[k]
            k += 1
            if arm == "lemma":
                rows.append((*fmt.sft_pair(ex.question, ex.response), _masked(ex, fmt.response_separator)))
            else:
                rows.append((*fmt.sft_pair(ex.question, _twin(ex, references)), []))
        else:
            rows.append((*fmt.sft_pair(refs[i].question, refs[i].reference), []))
    traj = sum(1 for i in range(n_rows) if i in slots) if arm == "lemma" else 0
    return ArmRows(rows, traj, n_rows - traj)


def paper_rows(arm: str, problems: list[Problem], examples: list[SFTExample], *, prompt_format: str) -> ArmRows:
    """The paper's sets: references for sft; trajectories for lemma; their error-free twins for clean."""
    fmt = get_format(prompt_format)
    if arm == "sft":
        rows = [(*fmt.sft_pair(p.question, p.reference), []) for p in problems]
        return ArmRows(rows, 0, len(rows))
    references = {p.id: p.reference for p in problems}
    if arm == "clean":
        missing = [e.id for e in examples if not e.clean_response and e.problem_id not in references]
        if missing:
            raise ValueError(f"train.clean: no error-free twin and no reference for {len(missing)} rows "
                             f"(e.g. {missing[0]}); the clean arm needs data with references")
        rows = [(*fmt.sft_pair(e.question, _twin(e, references)), []) for e in examples]
        return ArmRows(rows, 0, len(rows))
    sep = fmt.response_separator
    rows = [(*fmt.sft_pair(e.question, e.response), _masked(e, sep)) for e in examples]
    traj = sum(1 for e in examples if e.strategy)
    return ArmRows(rows, traj, len(rows) - traj)
