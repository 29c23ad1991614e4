"""A setting chosen on the dev split, by a rule fixed before measuring (the toy science's learning rate).

A sweep such as sweeps/toy_lr.yaml runs the matched arms once per candidate value of one setting, evaluated on the
world's dev split (benchmark=relations_dev). The rule: the value whose mean greedy dev accuracy over the trained arms
(sft, clean, lemma) is highest; ties go to the smaller value. Averaging the arms keeps the choice neutral: it favours
no arm, and every arm then shares the chosen value. The test split is never read here.

    python -m lemma.dev_choice outputs/sweeps/toy_lr/<time>      (prints the table, writes dev_choice.md there)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from lemma.stages.report import read_report
from lemma.sweep import _key, _overrides, varying_keys

ARMS = ("sft", "clean", "lemma")
OUTPUT = "dev_choice.md"


@dataclass(frozen=True)
class Candidate:
    """One value of the swept setting and every arm's dev accuracy with it."""
    value: str
    acc: dict[str, float]  # arm -> greedy dev accuracy (%)

    @property
    def score(self) -> float:
        return sum(self.acc[a] for a in ARMS) / len(ARMS)


def candidates(sweep_dir: Path) -> tuple[str, list[Candidate]]:
    """The swept key and, per value, the arms' dev accuracies from every finished job of the sweep."""
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir())
    overrides = {job: _overrides(job) for job in jobs}
    varying = varying_keys(list(overrides.values()))
    if len(varying) != 1:
        raise ValueError(f"{sweep_dir}: a dev choice sweeps exactly one setting, this sweep varies {sorted(varying) or 'none'}")
    key = next(iter(varying))
    found: list[Candidate] = []
    for job in jobs:
        try:
            report = read_report(job)
        except (OSError, ValueError):
            continue  # not finished
        mech = report.get("mechanism") or {}
        missing = [a for a in ARMS if a not in mech]
        if missing:
            raise ValueError(f"{job}: the report has no {', '.join(missing)} arm; a dev choice needs the matched arms "
                             "(data=relations, the default)")
        benchmarks = {mech[a]["benchmark"] for a in ARMS}
        if not all(b.endswith("_dev") for b in benchmarks):
            raise ValueError(f"{job}: evaluated on {sorted(benchmarks)}, not a dev split; choices are made on dev "
                             "(benchmark=relations_dev), never on test")
        value = next(o.split("=", 1)[1] for o in overrides[job] if _key(o) == key)
        found.append(Candidate(value, {a: float(mech[a]["acc"]) for a in ARMS}))
    return key, found


def choose(found: list[Candidate]) -> Candidate:
    """The rule: highest mean dev accuracy over the arms; on a tie, the smaller value."""
    if not found:
        raise ValueError("no finished job: nothing to choose from")
    return max(found, key=lambda c: (round(c.score, 6), -float(c.value)))


def table(key: str, found: list[Candidate]) -> str:
    best = choose(found)
    lines = [f"| {key} | " + " | ".join(ARMS) + " | mean |", "|---|" + "---|" * (len(ARMS) + 1)]
    for c in sorted(found, key=lambda c: float(c.value)):
        mark = " **(chosen)**" if c is best else ""
        lines.append(f"| {c.value}{mark} | " + " | ".join(f"{c.acc[a]:.1f}" for a in ARMS) + f" | {c.score:.2f} |")
    return "\n".join(lines) + f"\n\nChosen on dev: {key}={best.value} (mean greedy dev accuracy over {', '.join(ARMS)}).\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        key, found = candidates(args.sweep_dir)
        text = table(key, found)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    (args.sweep_dir / OUTPUT).write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
