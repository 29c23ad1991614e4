"""The 12-type error taxonomy of LEMMA (paper Table 12) and error-type distributions.

The original code uses three label sets (classifier, injector, paper). We keep one canonical enum and an alias
table, so labels from any teacher prompt map onto the same 12 types (METHOD.md §4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum


class ErrorType(StrEnum):
    CA = "calculation_error"
    CO = "counting_error"
    CV = "context_value_error"
    HA = "hallucination"
    UC = "unit_conversion_error"
    OP = "operator_error"
    FC = "formula_confusion_error"
    MS = "missing_step"
    CS = "contradictory_step"
    QM = "question_misinterpretation"
    CC = "confusing_concept_error"
    NO = "nonsensical_output"

    @property
    def abbr(self) -> str:
        return self.name


DEFINITIONS: dict[ErrorType, str] = {
    ErrorType.CA: "right operands and operator, but a wrong result",
    ErrorType.CO: "a miscount, e.g. a weekend counted as three days",
    ErrorType.CV: "a number or attribute copied wrongly from the question",
    ErrorType.HA: "facts invented or contradicting the question",
    ErrorType.UC: "a wrong conversion between units",
    ErrorType.OP: "one wrong operator in an expression",
    ErrorType.FC: "a formula used in the wrong setting, e.g. perimeter for area",
    ErrorType.MS: "a needed reasoning step is left out",
    ErrorType.CS: "a step inconsistent with an earlier one",
    ErrorType.QM: "the question is misread, e.g. a constraint ignored or the wrong quantity reported",
    ErrorType.CC: "two similar concepts mixed up, e.g. revenue and profit",
    ErrorType.NO: "incoherent or irrelevant text",
}

# Labels used by the original classifier and injector prompts (METHOD.md §4), and the paper's abbreviations.
ALIASES: dict[str, ErrorType] = {
    "referencing_context_value_error": ErrorType.CV,
    "misread_number": ErrorType.CV,
    "adding_irrelevant_information": ErrorType.HA,
    "confusing_formula_error": ErrorType.FC,
    "question_understanding_error": ErrorType.QM,
    "nonsense_output_error": ErrorType.NO,
    "nonsense_output": ErrorType.NO,
    "referencing_previous_step_value_error": ErrorType.CS,
    **{t.name.lower(): t for t in ErrorType},
    **{t.value: t for t in ErrorType},
}


def parse_error_type(label: str) -> ErrorType | None:
    """Map any known label (canonical, alias or abbreviation; case, quotes and markdown ignored) to an ErrorType."""
    cleaned = label.strip().strip("`'\"*. ").lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(cleaned)


# Published first-error distributions (METHOD.md §5), in percent. GSM8K: paper Fig. 7 (certain assignment).
# MATH: only QM and MS are certain; the rest follows METHOD.md's tentative reconstruction (CA 24.9, CC 17.2, FC 6.8).
PAPER_DISTRIBUTIONS: dict[str, dict[ErrorType, float]] = {
    "gsm8k_llama3_8b": {ErrorType.QM: 41.6, ErrorType.CA: 24.5, ErrorType.CC: 20.9, ErrorType.FC: 6.3, ErrorType.MS: 6.8},
    "math_llama3_8b": {ErrorType.QM: 48.8, ErrorType.CA: 24.9, ErrorType.CC: 17.2, ErrorType.FC: 6.8, ErrorType.MS: 2.2},
}


def normalize(weights: Mapping[ErrorType, float], allowed: set[ErrorType] | frozenset[ErrorType]) -> dict[ErrorType, float]:
    """Restrict weights to `allowed` types and renormalise to sum 1.

    Raises ValueError naming the cause when a weight is negative or nothing allowed has positive weight.
    """
    bad = {t: w for t, w in weights.items() if w < 0 or not math.isfinite(w)}
    if bad:
        raise ValueError(f"negative or non-finite weights: {', '.join(f'{t.abbr}={w}' for t, w in bad.items())}")
    kept = {t: w for t, w in weights.items() if t in allowed and w > 0}
    total = sum(kept.values())
    if total <= 0:
        names = ", ".join(sorted(t.abbr for t in allowed))
        raise ValueError(f"no positive weight on an injectable type (injectable: {names})")
    return {t: w / total for t, w in sorted(kept.items())}


def counts_to_distribution(counts: Mapping[ErrorType, int]) -> dict[ErrorType, float]:
    total = sum(counts.values())
    return {t: c / total for t, c in sorted(counts.items())} if total else {}
