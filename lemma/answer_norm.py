"""Per-dataset gold normalisation: the gold *as the dataset gives it* -> the canonical gold string.

The rules are those of EVALUATION.md §1 and §6.2 (they reproduce LEMMA's / Qwen's gold strings), so that a benchmark
loader and the ``lemma.grade`` CLI agree on what "the gold" is. The grader then always wraps the canonical gold in
``\\boxed{}`` before Math-Verify parses it (EVALUATION.md §4.2), so nothing here needs to produce parseable LaTeX.

Pure string functions: no sympy, no eval (gold lists from OlympiadBench are read with ``ast.literal_eval``, which only
builds literals; gold text is dataset data, never model text).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["DATASETS", "last_boxed", "normalize_gold"]


def last_boxed(text: str) -> str | None:
    """Content of the last brace-matched ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``; None if there is none.

    Why not a regex: boxed answers nest braces (``\\boxed{\\frac{1}{2}}``), which only a brace counter handles.
    """
    for m in reversed(list(re.finditer(r"\\(?:boxed|fbox)\s*\{", text))):
        content = _braced_from(text, m.end() - 1)
        if content is not None:
            return content
    return None


def _braced_from(text: str, open_pos: int) -> str | None:
    """Content of the brace group opening at ``open_pos``; None when unbalanced."""
    depth = 0
    for i in range(open_pos, len(text)):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[open_pos + 1 : i]
    return None


def canonical_number(raw: Any) -> str:
    """A float-valued gold (SVAMP/MAWPS store 43.0) written the way a model would: '43', '2.5', '-0.25'."""
    text = str(raw).strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    if not value.is_finite():
        return text
    if value == value.to_integral_value():
        return str(value.to_integral_value())
    return format(value.normalize(), "f")


def _gsm8k(raw: Any) -> str:
    text = str(raw)
    tail = text.split("####")[-1] if "####" in text else text
    return tail.strip().replace(",", "")


def _boxed_solution(raw: Any) -> str:
    """Last ``\boxed{}`` of the solution; a sentence-final '.' inside the box (one MATH gold has ``i.``) is dropped."""
    text = str(raw)
    boxed = last_boxed(text)
    return (boxed if boxed is not None else text).strip().rstrip(".").strip()


def _asdiv(raw: Any) -> str:
    """'9 (apples)' -> '9'; answers without a unit ("Richard's recipe", '1st') stay as they are."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", str(raw)).strip()


def _strip_dollars(raw: Any) -> str:
    return str(raw).replace("$", "").strip()


def _first_of_list(raw: Any) -> str:
    """OlympiadBench ``final_answer`` is a list (94 records have several answers; LEMMA grades the first)."""
    value = raw
    if isinstance(raw, str) and raw.strip().startswith("["):
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            value = raw
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return str(value).replace("$", "").strip()


def _identity(raw: Any) -> str:
    return str(raw).strip()


_RULES: dict[str, Callable[[Any], str]] = {
    "arith": _identity,
    "plain": _identity,
    "gsm8k": _gsm8k,
    "math": _boxed_solution,
    "minerva_math": _boxed_solution,
    "math500": _identity,
    "asdiv": _asdiv,
    "mawps": canonical_number,
    "mawps_refaug": canonical_number,
    "svamp": canonical_number,
    "deepmind_math": _identity,
    "college_math": _strip_dollars,
    "gaokao2023en": _strip_dollars,
    "gaokao_math_cloze": _strip_dollars,
    "gaokao": _strip_dollars,
    "olympiadbench": _first_of_list,
}

DATASETS: tuple[str, ...] = tuple(sorted(_RULES))


def normalize_gold(raw: Any, dataset: str) -> str:
    """Gold as the dataset gives it -> canonical gold string (EVALUATION.md §1 table, §6.2).

    Unknown dataset names raise ValueError rather than passing the gold through silently, so a typo in a config cannot
    change what is graded.
    """
    key = dataset.lower()
    if key not in _RULES and key.startswith("gaokao"):
        key = "gaokao"
    try:
        rule = _RULES[key]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}") from None
    return rule(raw)
