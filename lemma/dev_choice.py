"""A setting chosen on the dev split, by a rule fixed before measuring (the toy science's learning rate).

A sweep such as sweeps/toy_lr.yaml runs the matched arms once per seed and candidate value of one setting, evaluated
on the world's dev split (benchmark=relations_dev). The rule: the value whose mean greedy dev accuracy over the seeds
and the trained arms (sft, clean, lemma) is highest; ties go to the smaller value. Averaging the arms keeps the choice
neutral: it favours no arm, and every arm then shares the chosen value. A job evaluated on anything but a dev split is
refused, so a choice can never read the test split.

    python -m lemma.dev_choice outputs/sweeps/toy_lr/<time>      (prints the table, writes dev_choice.md there)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from lemma.stages.report import read_report
from lemma.sweep import SEED_KEYS, job_overrides, override_key, varying_keys

ARMS = ("sft", "clean", "lemma")
OUTPUT = "dev_choice.md"


@dataclass(frozen=True)
class Candidate:
    """One value of the swept setting and every arm's dev accuracy with it, per seed."""
    value: str
    acc: dict[str, dict[str, float]]  # seed -> arm -> greedy dev accuracy (%)

    def arm_mean(self, arm: str) -> float:
        return sum(by_arm[arm] for by_arm in self.acc.values()) / len(self.acc)

    @property
    def score(self) -> float:
        return sum(self.arm_mean(a) for a in ARMS) / len(ARMS)


def candidates(sweep_dir: Path) -> tuple[str, list[Candidate]]:
    """The swept key and, per value, the arms' dev accuracies from every finished job of the sweep."""
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir())
    overrides = {job: job_overrides(job) for job in jobs}
    varying = varying_keys(list(overrides.values())) - set(SEED_KEYS)
    if len(varying) != 1:
        raise ValueError(f"{sweep_dir}: a dev choice sweeps exactly one setting, this sweep varies "
                         f"{sorted(varying) or 'none'}")
    key = next(iter(varying))
    found: dict[str, Candidate] = {}
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
        not_dev = _items_not_on_dev(job)
        if not_dev:
            raise ValueError(f"{job}: evaluated on {not_dev}, not a dev split; choices are made on dev "
                             "(benchmark=relations_dev), never on test")
        value = next(o.split("=", 1)[1] for o in overrides[job] if override_key(o) == key)
        seed = next((o.split("=", 1)[1] for o in overrides[job] if override_key(o) in SEED_KEYS), "default")
        found.setdefault(value, Candidate(value, {})).acc[seed] = {a: float(mech[a]["acc"]) for a in ARMS}
    return key, _complete(list(found.values()))


def _items_not_on_dev(job: Path) -> list[str]:
    """The job's benchmark items that are not a built-in world's dev split, from the config Hydra recorded."""
    items = OmegaConf.load(job / ".hydra" / "config.yaml").benchmark["items"]
    return sorted(name for name, item in items.items()
                  if item.get("source") != "builtin" or item.get("split", "test") != "dev")


def _complete(found: list[Candidate]) -> list[Candidate]:
    """Candidates measured on every seed that any candidate has: a value missing a seed is not yet comparable."""
    seeds = set().union(*(c.acc for c in found)) if found else set()
    return [c for c in found if set(c.acc) == seeds]


def choose(found: list[Candidate]) -> Candidate:
    """The rule: highest mean dev accuracy over the arms; on a tie, the smaller value."""
    if not found:
        raise ValueError("no finished job: nothing to choose from")
    return max(found, key=lambda c: (round(c.score, 6), -float(c.value)))


def table(key: str, found: list[Candidate]) -> str:
    best = choose(found)
    seeds = sorted(best.acc)
    lines = [f"| {key} | " + " | ".join(ARMS) + " | mean | " + " | ".join(f"seed {s}" for s in seeds) + " |",
             "|---|" + "---|" * (len(ARMS) + 1 + len(seeds))]
    for c in sorted(found, key=lambda c: float(c.value)):
        mark = " **(chosen)**" if c is best else ""
        per_seed = [sum(c.acc[s][a] for a in ARMS) / len(ARMS) for s in seeds]
        lines.append(f"| {c.value}{mark} | " + " | ".join(f"{c.arm_mean(a):.1f}" for a in ARMS) + f" | {c.score:.2f} | "
                     + " | ".join(f"{v:.1f}" for v in per_seed) + " |")
    return ("Greedy pass@1 on the dev split, mean over seeds; `mean` averages the arms; the seed columns are each "
            "seed's mean over the arms.\n\n" + "\n".join(lines)
            + f"\n\nChosen on dev: {key}={best.value} (highest mean over {len(seeds)} seed(s) and {', '.join(ARMS)}).\n")


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
