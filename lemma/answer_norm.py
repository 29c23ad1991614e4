"""Per-dataset gold normalisation: the gold *as the dataset gives it* -> the canonical gold string.

The rules are those of EVALUATION.md §1 and §6.2 (they reproduce LEMMA's / Qwen's gold strings), so that a benchmark
loader and the ``lemma.grade`` CLI agree on what "the gold" is. The grader then always wraps the canonical gold in
``\\boxed{}`` before Math-Verify parses it (EVALUATION.md §4.2), so nothing here needs to produce parseable LaTeX.

Pure string functions: no sympy, no eval (gold lists from OlympiadBench are read with ``ast.literal_eval``, which only
builds literals; gold text is dataset data, never model text). Where boxed answers are and which of them form one
final answer lives here too, so that a MATH gold and a response are read by the same rule.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from lemma.reflection import first_reflection

__all__ = ["DATASETS", "Box", "boxed_candidates", "chain_start", "final_boxed", "joins", "last_boxed",
           "normalize_gold"]

_BOXED_START = re.compile(r"\\(?:boxed|fbox)\b\s*")
_SEPARATOR = re.compile(r"and|or|,|;")
_BRACE = re.compile(r"[{}]")


def last_boxed(text: str) -> str | None:
    """Content of the last brace-matched ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``; None if there is none."""
    closed = [b for b in boxed_candidates(text) if b.content is not None]
    return closed[-1].content if closed else None


def final_boxed(text: str) -> str | None:
    """The final answer boxed in ``text``: the last closed box, joined with the boxes before it that form one answer
    with it ('$\\boxed{-2}$ and $\\boxed{1}$' -> '-2,1', as Math-Verify joins them); None if there is no box."""
    boxes = boxed_candidates(text)
    closed = [i for i, b in enumerate(boxes) if b.content is not None]
    if not closed:
        return None
    last = closed[-1]
    return ",".join((b.content or "").strip() for b in boxes[chain_start(text, boxes, last) : last + 1])


@dataclass(frozen=True)
class Box:
    """A ``\\boxed``/``\\fbox``: where it starts, its content (None when its braces never close), where it ends."""

    start: int
    content: str | None
    end: int


def _match_braces(text: str) -> dict[int, int]:
    """Every ``{`` position -> its matching ``}``, in one linear pass (100 kB of ``\\boxed{`` cannot go quadratic).

    Why not a regex: boxed answers nest braces (``\\boxed{\\frac{1}{2}}``), which only a brace counter handles.
    """
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for m in _BRACE.finditer(text):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            pairs[stack.pop()] = m.start()
    return pairs


def boxed_candidates(text: str) -> list[Box]:
    """Every ``\\boxed``/``\\fbox`` with its content, in text order ('\\boxed 5' reads the space-free token)."""
    starts = list(_BOXED_START.finditer(text))
    if not starts:
        return []
    pairs = _match_braces(text) if "{" in text else {}
    out: list[Box] = []
    for m in starts:
        pos = m.end()
        if pos < len(text) and text[pos] == "{":
            close = pairs.get(pos)
            content = None if close is None else text[pos + 1 : close]
            out.append(Box(m.start(), content, len(text) if close is None else close + 1))
        else:
            token = re.match(r"[^\s$]+", text[pos:])
            out.append(Box(m.start(), token.group(0) if token else None, pos + (token.end() if token else 0)))
    return out


def joins(text: str, prev: Box, cur: Box) -> bool:
    """Whether ``prev`` and ``cur`` are parts of one answer. Math-Verify's rule (latex2sympy2_extended's
    ``extract_boxed_content``: fewer than 10 characters apart, or fewer than 70 with 'and'/'or'/','/';' between them
    and different contents), with one exception: boxes separated by a reflection phrase ('Hmm, let me re-check...')
    are successive attempts, not parts."""
    if prev.content is None or cur.content is None or prev.end > cur.start:
        return False
    gap = text[prev.end : cur.start]
    if first_reflection(gap) is not None:
        return False
    if len(gap) < 10:
        return True
    return len(gap) < 70 and prev.content.strip() != cur.content.strip() and _SEPARATOR.search(gap) is not None


def chain_start(text: str, boxes: list[Box], last: int) -> int:
    """Index of the first box of the answer that ends with ``boxes[last]``."""
    first = last
    while first > 0 and joins(text, boxes[first - 1], boxes[first]):
        first -= 1
    return first


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
    """The solution's final boxed answer (``final_boxed``: the last box, or the boxes that together form the final
    answer, as the grader reads a response); a sentence-final '.' inside the box (one MATH gold has ``i.``) goes."""
    text = str(raw)
    boxed = final_boxed(text)
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
# Hashed into the key of `problems` for GSM8K/MATH train files, whose golds are normalize_gold's output (the benchmark
# golds are covered by lemma.grading.GRADER_VERSION in evaluate's key): bump whenever a rule can return another gold.
GOLD_NORMALISATION_VERSION = "1"


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
