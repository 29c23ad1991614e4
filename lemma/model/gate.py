"""The warm-up gate: is the tiny student competent but fallible, in the way the method needs?

A comparison of training arms says something about learning from errors only if the student before it can do the
task half of the time and fails mostly on the kinds of step that can be seen and fixed in its own lines (reading
the question, the order of the lines), not on noise. The gate measures that on the dev split, greedily, with the
world's own checker, and the run says loudly when it is missed; the numbers go into the base manifest and the
report either way.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from lemma.records import Problem
from lemma.taxonomy import ErrorType

log = logging.getLogger(__name__)

# Mistakes of reading the question or of the order of the lines (the ones a reflection can name), against
# arithmetic slips (CA), made-up people (HA) and broken text (NO).
LOOKUP_OR_ORDER = frozenset({ErrorType.CC, ErrorType.CV, ErrorType.OP, ErrorType.CS, ErrorType.MS, ErrorType.QM})


@dataclass(frozen=True)
class GateResult:
    dev_acc: float  # greedy pass@1 on the dev split, in %
    n: int
    errors: dict[str, int]  # first-error type (abbreviation) -> count
    lookup_share: float  # share of errors of the lookup/ordering kind
    min_acc: float
    max_acc: float
    min_lookup_share: float

    @property
    def passed(self) -> bool:
        return self.min_acc <= self.dev_acc <= self.max_acc and self.lookup_share >= self.min_lookup_share

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def describe(self) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items(), key=lambda kv: -kv[1]))
        return (f"dev greedy accuracy {self.dev_acc:.1f}% on {self.n} problems (gate {self.min_acc:g}-{self.max_acc:g}%), "
                f"lookup/ordering share of errors {100 * self.lookup_share:.0f}% (gate >= "
                f"{100 * self.min_lookup_share:.0f}%); first errors: {errors or 'none'}")


def measure(world: str, problems: list[Problem], texts: list[str], gate: Any) -> GateResult:
    """Grade `texts` (one greedy answer per dev problem) with the world's checker and apply the gate's bounds."""
    from lemma.teacher.symbolic import WORLDS

    rules = WORLDS[world]
    errors: Counter[str] = Counter()
    right = 0
    for problem, text in zip(problems, texts, strict=True):
        verdict = rules.check(rules.state(problem), problem, text)
        if verdict.verdict == "correct":
            right += 1
        else:
            errors[verdict.error_type.abbr if verdict.error_type else "?"] += 1
    wrong = sum(errors.values())
    lookup = sum(n for abbr, n in errors.items() if abbr in {t.abbr for t in LOOKUP_OR_ORDER})
    return GateResult(dev_acc=round(100 * right / max(1, len(problems)), 1), n=len(problems), errors=dict(errors),
                      lookup_share=round(lookup / wrong, 3) if wrong else 0.0, min_acc=float(gate.min_acc),
                      max_acc=float(gate.max_acc), min_lookup_share=float(gate.min_lookup_share))


def report(result: GateResult) -> None:
    """Log the gate: one INFO line when passed, a WARNING block that cannot be missed when not."""
    if result.passed:
        log.info("warm-up gate passed: %s", result.describe())
        return
    bar = "!" * 100
    log.warning("%s\nWARM-UP GATE MISSED: %s\nThe arms below start from a student that is %s; differences between "
                "them may measure more training rather than learning from errors. Change model.tiny.warmup.max_steps "
                "or the model size, or the world (data.world.*), and rerun.\n%s", bar, result.describe(),
                _why(result), bar)


def _why(result: GateResult) -> str:
    if result.dev_acc < result.min_acc:
        return "not yet competent"
    if result.dev_acc > result.max_acc:
        return "hardly ever wrong"
    return "wrong mostly for reasons it cannot see in its own lines"
