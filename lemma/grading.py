"""Math-answer grading: extraction, a parent-side exact fast path, Math-Verify, and an isolated worker pool.

Design (EVALUATION.md §6 is the spec; section numbers below refer to it):

* **Extraction by position** (§6.3, METHOD.md §3.9). ``extract_answer`` takes the answer marker (``\\boxed{}``,
  "The answer is", "final answer is") that occurs *last* in the text, so a reflective trajectory whose prefix holds
  ``\\boxed{wrong}`` and whose tail says "The answer is: X" is graded on X. A phrase followed by prose ("The final
  answer is positive, because ...") is not a marker. Qwen's order (any boxed beats "The answer is", §3.1) is kept
  only in ``qwen_compat``. Markdown ``**`` is removed first (Math-Verify#76).
* **Parent-side fast path** (§6.4): pure string/Decimal code, no sympy, no IPC, so GSM8K-style grading and a pipeline's
  small batches never start a worker. Identical text (whitespace aside) is equal; two plain decimals (thousands
  separators, a currency prefix allowed) compare exactly as ``Decimal``: no relative tolerance and no x100 / /100 rule
  (§3.2: '500' vs '5', '10' vs '10.0009' are False). Policy: a percent sign on exactly one side may be read as a unit
  ('25\\%' for gold 25) or as x1/100 ('25\\%' for gold 0.25); '0.5' vs '50' stays False.
* **Math-Verify core** (§4, §6.1-6.3) for everything else: gold and extracted prediction are both wrapped in
  ``\\boxed{}`` (bare golds such as ``\\dfrac{9}{7}`` do not parse, §4.2; boxing the prediction too means the "0" of
  Math-Verify#60 is never extracted), gold parsed with ``LatexExtractionConfig()`` + ``ExprExtractionConfig()``,
  prediction with ``LatexExtractionConfig(boxed_match_priority=0)`` + ``ExprExtractionConfig()``. When both parse to
  exact rationals they are compared exactly, fixing Math-Verify's 6-decimal rounding (``1/2006!`` vs ``1/2004!``,
  ``10^{-20}`` vs ``10^{-21}``, Math-Verify#14).
* **Isolation** (§6.5). Everything that reaches sympy runs in worker processes started with ``subprocess`` (not
  ``multiprocessing``: spawn/forkserver re-import the parent's ``__main__``; fork is unsafe next to CUDA threads). Each
  item has a soft limit (an interval timer in the worker raising a ``BaseException``, so no ``except Exception`` in
  sympy or Math-Verify swallows it) and a hard limit (the parent kills and replaces a worker that has not answered by
  ``timeout_s + 1 s``: C-level calls an alarm cannot interrupt, §4.2). Either way the item scores False and
  ``Grader.timeouts`` counts it. Math-Verify's own alarms are off in the worker so they cannot cancel our timer and a
  timeout is counted instead of silently turning into "did not parse".
* **Security** (§6.6). Our code never passes model text to ``eval``, ``exec``, ``sympify`` or ``parse_expr``; the only
  ``parse_expr`` is Math-Verify's regex-limited ``ExprExtractionConfig`` path (digits and operators only, §4.1). Exact
  rational comparison walks the sympy tree Math-Verify built, with size limits.
* **qwen_compat** (§6.7) re-implements the Qwen2.5-Math rules from the description in §3.1 (its extraction order,
  ``strip_string``-style normalisation with unit-word deletion, numeric ``rel_tol=1e-4`` with the x100 percent rule,
  bracket stripping, element-wise tuples/matrices, ``a=b`` as ``a-(b)``), with Math-Verify's ``parse``/``verify`` plus a
  numeric-closeness check as the symbolic fallback instead of ``parse_expr``/``parse_latex``. It therefore reproduces
  the §3.2 false positives and the ``\\sec``/``\\lt`` false negatives, but is more lenient than Qwen where Math-Verify
  understands more (relations ``x \\geq 5`` vs ``5 \\leq x``, ``\\cfrac``). The unit-word list is our own (~150 words
  with the letters and words §3.1 names), not Qwen's exact list.

Known wrong verdicts kept from Math-Verify 0.8.0 (tests/unit/test_grading.py ``KNOWN_WRONG``, strict xfail):
``\\sqrt{1/n}`` vs ``\\frac{1}{\\sqrt{n}}`` is False (Math-Verify#64); a base subscript is dropped, so ``10_2`` equals
``10``. Policies inherited on purpose: ``[1,\\infty)`` gold vs ``x \\ge 1`` prediction is False (the reverse is True,
#25); ``x=5`` vs ``y=5`` is False (strict variables); ``\\pm 2021`` vs ``2021`` and ``32, 349`` vs ``32349`` are False.
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from importlib import metadata
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from lemma.answer_norm import normalize_gold

__all__ = [
    "GRADER_VERSION",
    "MODES",
    "Grader",
    "Verdict",
    "answers_equal",
    "extract_answer",
    "normalize_gold",
]


def _math_verify_version() -> str:
    try:
        return metadata.version("math-verify")
    except metadata.PackageNotFoundError:  # pragma: no cover - the pin makes this unreachable in practice
        return "unknown"


GRADER_VERSION: str = f"lemma-grader/1 math-verify=={_math_verify_version()}"
MODES: tuple[str, ...] = ("math_verify", "qwen_compat")


@dataclass(frozen=True)
class Verdict:
    """One graded item. ``timed_out`` and ``error`` both score False; kept apart so that runs can report them."""

    extracted: str | None
    correct: bool
    timed_out: bool = False
    error: str | None = None


# ---------------------------------------------------------------------------------------------------------------------
# Extraction (pure string code: safe on any text, linear time, used in the parent process)
# ---------------------------------------------------------------------------------------------------------------------

_BOXED_START = re.compile(r"\\(?:boxed|fbox)\b\s*")
_ANSWER_PHRASE = re.compile(r"(?:final\s+answer\s+is|the\s+answer\s+is|final\s+answer\s*:)\s*:?", re.IGNORECASE)
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")
_MATH_ENV = re.compile(  # an escaped dollar ("\\$18") is money, not a delimiter
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.DOTALL
)
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\s+I hope\b", re.IGNORECASE)
_MAX_ANSWER_CHARS = 2000


def _strip_markdown(text: str) -> str:
    """Markdown bold around answers (``**73**``) breaks Math-Verify's extraction (Math-Verify#76)."""
    return text.replace("**", "")


def _match_braces(text: str) -> dict[int, int]:
    """Every ``{`` position -> its matching ``}``, in one linear pass (100 kB of ``\\boxed{`` cannot go quadratic)."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for i, c in enumerate(text):
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            pairs[stack.pop()] = i
    return pairs


def _boxed_candidates(text: str) -> list[tuple[int, str | None]]:
    """(position, content) for every ``\\boxed``/``\\fbox``; content None when its braces never close."""
    starts = list(_BOXED_START.finditer(text))
    if not starts:
        return []
    pairs = _match_braces(text) if "{" in text else {}
    out: list[tuple[int, str | None]] = []
    for m in starts:
        pos = m.end()
        if pos < len(text) and text[pos] == "{":
            close = pairs.get(pos)
            out.append((m.start(), text[pos + 1 : close] if close is not None else None))
        else:  # "\boxed 5": Qwen reads up to the next "$"; a space-free token is the safe reading
            token = re.match(r"[^\s$]+", text[pos:])
            out.append((m.start(), token.group(0) if token else None))
    return out


def _phrase_answer(text: str, start: int) -> str | None:
    """The answer after "The answer is" at ``start``: rest of the line (or the next non-empty one), math unwrapped."""
    rest = text[start : start + _MAX_ANSWER_CHARS].lstrip(" \t:")
    lines = rest.split("\n")
    line = lines[0].strip()
    if not line:
        line = next((ln.strip() for ln in lines[1:] if ln.strip()), "")
    if not line:
        return None
    env = _MATH_ENV.match(line)
    if env is not None:
        return _clean_answer(next(g for g in env.groups() if g is not None))
    if line.startswith("$$") or line.startswith("\\["):  # display math opened on this line, closed later
        env = _MATH_ENV.match(rest.lstrip())
        if env is not None:
            return _clean_answer(next(g for g in env.groups() if g is not None))
    cut = _SENTENCE_END.search(line)
    answer = _clean_answer(line[: cut.start()] if cut else line)
    return None if answer is None or _is_prose(answer) else answer


def _is_prose(answer: str) -> bool:
    """'positive, because two of the three numbers are negative' is a remark, not an answer: yield to an earlier marker.

    Six or more ordinary words (LaTeX commands and ``\\text{}`` aside) is the cut-off; '18 dollars per day' is an
    answer.
    """
    without_latex = re.sub(r"\\text\s*\{[^{}]*\}|\\[A-Za-z]+", " ", answer)
    return len(re.findall(r"[A-Za-z]{2,}", without_latex)) >= 6


def _clean_answer(ans: str) -> str | None:
    """Trim what extraction leaves around an answer: spaces, a leading ':', a trailing '.', '/', ',', stray ``$``, and
    plain unit words after a number ('18 dollars per day' -> '18')."""
    ans = ans.strip().lstrip(":").strip()
    ans = ans.rstrip(".,/;").strip()
    if ans.startswith("$") and ans.endswith("$"):
        ans = ans.strip("$").strip()
    return _drop_unit_words(ans) or None


_NUMBER_THEN_WORDS = re.compile(r"((?:\\?\$)?\s*[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+))\s+([A-Za-z][A-Za-z' ]*)")
_MATH_WORDS = frozenset({"pi", "e", "i", "x", "y", "z", "n", "sqrt", "ln", "log", "sin", "cos", "tan", "and", "or"})


def _drop_unit_words(ans: str) -> str:
    """'18 dollars', '$5 each' -> the number: Math-Verify would read '18 dollars' as the product 18*d*o*l*l*a*r*s.

    Only plain text is touched (no LaTeX), and not when the first word is mathematical ('3 pi', '2 x', '5 and 6').
    """
    m = _NUMBER_THEN_WORDS.fullmatch(ans)
    if m is None:
        return ans
    first_word = m.group(2).split()[0].lower()
    if first_word in ("percent", "pct"):
        return m.group(1).strip() + "\\%"
    return ans if first_word in _MATH_WORDS else m.group(1).strip()


def _looks_bare(text: str) -> bool:
    """A bare answer ('\\frac{3}{4}', '(1, 2)', 'x = 5') rather than prose: one short line without ordinary words."""
    if "\n" in text or len(text) > 200 or _BOXED_START.search(text):  # an unclosed \boxed is a cut-off answer
        return False
    without_latex = re.sub(r"\\text\s*\{[^{}]*\}|\\[A-Za-z]+", " ", text)
    return re.search(r"[A-Za-z]{3,}", without_latex) is None


def _tail_start(text: str, size: int) -> int:
    """Where the last ``size`` characters start, moved past a ``$`` when the cut falls inside ``$...$``."""
    offset = max(0, len(text) - size)
    if offset and len(_UNESCAPED_DOLLAR.findall(text, 0, offset)) % 2:
        first = _UNESCAPED_DOLLAR.search(text, offset)
        offset = first.end() if first is not None else offset
    return offset


_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


def _fallback_answer(text: str) -> str | None:
    """No marker: a bare answer as is; else the last math environment if it holds the last number; else that number."""
    stripped = text.strip()
    if not stripped:
        return None
    if _looks_bare(stripped):
        return _clean_answer(stripped)
    numbers = list(_NUMBER.finditer(text))
    last_number = numbers[-1] if numbers else None
    # only the tail can hold the last environment; bounding it keeps "\\[" x 50,000 from going quadratic
    offset = _tail_start(text, 2 * _MAX_ANSWER_CHARS)
    tail = text[offset:]
    envs = list(_MATH_ENV.finditer(tail)) if "$" in tail or "\\[" in tail or "\\(" in tail else []
    last_number_end = last_number.end() - offset if last_number is not None else None
    if envs and (last_number_end is None or envs[-1].end() >= last_number_end):
        content = next(g for g in envs[-1].groups() if g is not None)
        cleaned = _clean_answer(content)
        if cleaned is not None and len(cleaned) <= _MAX_ANSWER_CHARS:
            return cleaned
    if last_number is not None:
        return last_number.group(0)
    if len(stripped) <= 40 and len(stripped.split()) <= 3:  # 'Monday', 'yes', "Richard's recipe"
        return _clean_answer(stripped)
    return None


@dataclass(frozen=True)
class _Marker:
    """An answer marker in a response: a ``\\boxed`` (with its content) or an answer phrase (with where it ends)."""

    pos: int
    boxed: bool
    content: str | None = None
    phrase_end: int = 0

    def answer(self, text: str) -> str | None:
        if self.boxed:
            return _clean_answer(self.content) if self.content is not None else None
        return _phrase_answer(text, self.phrase_end)


def extract_answer(text: str) -> str | None:
    """The answer a full response commits to: in a response that reflects and restarts, the FINAL one.

    The marker (brace-matched ``\\boxed{}``, "The answer is", "final answer is") that occurs LAST wins, whatever its
    kind (METHOD.md §3.9); a marker with an empty, unbalanced or prose answer yields to the one before it. Without any
    marker: the whole text if it is a bare answer, else the last math environment or the last number. None if nothing.
    """
    if not text:
        return None
    text = _strip_markdown(text)
    markers = [_Marker(pos, True, content) for pos, content in _boxed_candidates(text)]
    markers += [_Marker(m.start(), False, phrase_end=m.end()) for m in _ANSWER_PHRASE.finditer(text)]
    for marker in sorted(markers, key=lambda mk: (mk.pos, mk.boxed), reverse=True):
        answer = marker.answer(text)
        if answer is not None:
            return answer
    return _fallback_answer(text)


# ---------------------------------------------------------------------------------------------------------------------
# Exact numeric fast path (parent process; no sympy, no eval)
# ---------------------------------------------------------------------------------------------------------------------

_PLAIN_DECIMAL = re.compile(
    r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?: \d{3})+|\d+)(?:\.\d*)?(?:[eE][+-]?\d{1,4})?|[+-]?\.\d+(?:[eE][+-]?\d{1,4})?"
)
_NUMBER_WRAPPERS = re.compile(r"^\{(.*)\}$|^\\boxed\{(.*)\}$|^\$(.*)\$$|^\\\((.*)\\\)$")


def _as_number(answer: str) -> tuple[Decimal, bool] | None:
    """(exact value, carries a percent sign) if ``answer`` is nothing but a plain decimal numeral, optionally with a
    currency prefix or a percent suffix ('1,234', '-0.5', '$18', '18.00', '25\\%'); None otherwise."""
    s = answer.strip()
    if len(s) > 400:
        return None
    for _ in range(3):  # peel "{5}", "$5$", "\boxed{5}" wrappers a bare answer may still carry
        m = _NUMBER_WRAPPERS.match(s)
        if m is None:
            break
        s = next(g for g in m.groups() if g is not None).strip()
    s = s.replace("\\!", "").replace("{,}", ",").replace("\\,", " ").replace("~", " ")
    if s.startswith("\\$"):
        s = s[2:].strip()
    elif s.startswith("$"):
        s = s[1:].strip()
    percent = _PERCENT_SUFFIX.search(s)
    if percent is not None:
        s = s[: percent.start()]
    if not _PLAIN_DECIMAL.fullmatch(s):
        return None
    try:
        return Decimal(s.replace(",", "").replace(" ", "")), percent is not None
    except InvalidOperation:
        return None


_PERCENT_SUFFIX = re.compile(r"\s*(?:\\%|%|\\text\{\s*\\?%\s*\}|\\text\{\s*percent\s*\}|percent|pct)$")
_EXACT = Context(prec=2000)  # 400-character numerals, scaled by 100, stay exact


def numeric_verdict(pred: str, gold: str) -> bool | None:
    """Exact verdict when both sides are plain decimals ('20' vs '20.0' True, '500' vs '5' False); None otherwise.

    A percent sign on exactly one side may be read as a unit ('25\\%' answers "what percent?" with gold 25) or as
    x1/100 ('25\\%' = 0.25, Math-Verify's reading); both are accepted. This is not Qwen's x100 rule: without a percent
    sign, '500' vs '5' and '0.5' vs '50' stay False.
    """
    g = _as_number(gold)
    if g is None:
        return None
    p = _as_number(pred)
    if p is None:
        return None
    (g_value, g_pct), (p_value, p_pct) = g, p
    if g_pct == p_pct:
        return g_value == p_value
    pct_value, plain_value = (p_value, g_value) if p_pct else (g_value, p_value)
    return plain_value == pct_value or _EXACT.multiply(plain_value, 100) == pct_value


def _same_text(pred: str, gold: str) -> bool:
    return " ".join(pred.split()) == " ".join(gold.split())


def parent_verdict(pred: str, gold: str) -> bool | None:
    """What the parent decides without sympy: identical text (whitespace runs aside) is equal, plain decimals compare
    exactly; None sends the pair to Math-Verify. Most model answers in a benchmark run end here."""
    if _same_text(pred, gold):
        return True
    return numeric_verdict(pred, gold)


# ---------------------------------------------------------------------------------------------------------------------
# Math-Verify core (runs in workers; imported lazily so that importing lemma.grading stays cheap)
# ---------------------------------------------------------------------------------------------------------------------


class _TimeoutWarningFilter(logging.Filter):
    """Math-Verify warns once that its alarm is off; off is deliberate here (our worker timer replaces it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


@lru_cache(maxsize=1)
def _mv() -> Any:
    """Import Math-Verify once per process, with its timeout warning filtered."""
    import math_verify

    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(_TimeoutWarningFilter())
    return math_verify


@lru_cache(maxsize=1)
def _configs() -> tuple[list[Any], list[Any]]:
    mv = _mv()
    gold_cfg = [mv.LatexExtractionConfig(), mv.ExprExtractionConfig()]
    pred_cfg = [mv.LatexExtractionConfig(boxed_match_priority=0), mv.ExprExtractionConfig()]
    return gold_cfg, pred_cfg


@lru_cache(maxsize=4096)
def _parse_gold(gold: str) -> list[Any]:
    """Gold -> Math-Verify parse, always via ``\\boxed{}`` (bare golds like ``\\dfrac{9}{7}`` do not parse, §4.2)."""
    gold_cfg, _ = _configs()
    return _mv().parse(f"\\boxed{{{gold}}}", gold_cfg, parsing_timeout=None)


@lru_cache(maxsize=4096)
def _parse_pred(pred: str) -> list[Any]:
    """An extracted prediction -> Math-Verify parse, boxed like the gold so both sides normalise the same way."""
    _, pred_cfg = _configs()
    text = _strip_markdown(pred).strip()
    parsed = _mv().parse(f"\\boxed{{{text}}}", pred_cfg, parsing_timeout=None)
    if not parsed:  # e.g. text with unbalanced braces: let Math-Verify's own extraction try the raw string
        parsed = _mv().parse(text, pred_cfg, parsing_timeout=None)
    return parsed


def _math_verify_equal(pred: str, gold: str) -> bool:
    gold_parsed = _parse_gold(gold)
    if not gold_parsed:
        return False
    pred_parsed = _parse_pred(pred)
    if not pred_parsed:
        return False
    exact = _exact_verdict(gold_parsed[0], pred_parsed[0])
    if exact is not None:
        return exact
    return bool(_mv().verify(gold_parsed, pred_parsed, timeout_seconds=None))


_EXACT_MAX_BITS = 1 << 20  # refuse to build exact values over ~1 Mbit (a 300k-digit number): that is the tower case
_EXACT_MAX_FACTORIAL = 5000


def _exact_verdict(gold: Any, pred: Any) -> bool | None:
    """Exact comparison when both sides are exact rational numbers, else None (Math-Verify decides).

    Math-Verify compares numbers after rounding to 6 decimals, so ``1/2004!`` = ``1/2006!``, ``1/2^{99}`` = ``1/2^{98}``
    and ``10^{-20}`` = ``10^{-21}`` (Math-Verify#14, EVALUATION.md §4.2). Two exact rationals need no rounding: compare
    them exactly. Floats, symbols, percent forms with floats etc. are left to Math-Verify.
    """
    g = _exact_value(gold)
    if g is None:
        return None
    p = _exact_value(pred)
    if p is None:
        return None
    return g == p


def _exact_value(expr: Any) -> Fraction | None:
    """Value of a sympy tree made only of integers, rationals, +, *, integer powers and small factorials.

    Walks the tree Math-Verify built (no eval, no sympify); None when the tree has anything else or would grow too big.
    """
    import sympy

    if isinstance(expr, sympy.Rational):  # Integer included
        return Fraction(int(expr.p), int(expr.q))
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        values = [_exact_value(a) for a in expr.args]
        if any(v is None for v in values):
            return None
        total = values[0]
        for v in values[1:]:
            total = total + v if isinstance(expr, sympy.Add) else total * v
            if _bits(total) > _EXACT_MAX_BITS:
                return None
        return total
    if isinstance(expr, sympy.Pow):
        return _exact_pow(expr)
    if isinstance(expr, sympy.factorial) and isinstance(expr.args[0], sympy.Integer):
        n = int(expr.args[0])
        return Fraction(math.factorial(n)) if 0 <= n <= _EXACT_MAX_FACTORIAL else None
    return None


def _exact_pow(expr: Any) -> Fraction | None:
    import sympy

    base_expr, exp_expr = expr.args
    if not isinstance(exp_expr, sympy.Integer):
        return None
    base = _exact_value(base_expr)
    exponent = int(exp_expr)
    if base is None or (base == 0 and exponent < 0):
        return None
    if _bits(base) * abs(exponent) > _EXACT_MAX_BITS:
        return None
    return base**exponent


def _bits(value: Fraction) -> int:
    return value.numerator.bit_length() + value.denominator.bit_length()


def answers_equal(pred: str, gold: str, mode: str = "math_verify") -> bool:
    """In-process equivalence of two already-extracted answers (numeric fast path, then Math-Verify).

    Used inside workers. It has no time limit of its own: call it on untrusted text only inside ``Grader`` (or another
    killable process), never inline in a pipeline (§3.2 "Hangs").
    """
    if mode == "qwen_compat":
        return qwen_equal(pred, gold)
    _check_mode(mode)
    if not pred or not gold or not pred.strip() or not gold.strip():
        return False
    fast = parent_verdict(pred, gold)
    if fast is not None:
        return fast
    return _math_verify_equal(pred, gold)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown grading mode {mode!r}; expected one of {MODES}")


# ---------------------------------------------------------------------------------------------------------------------
# qwen_compat: the Qwen2.5-Math rules of EVALUATION.md §3.1, re-implemented without parse_expr / code execution
# ---------------------------------------------------------------------------------------------------------------------

# Words Qwen's normaliser deletes as "units" (§3.1: about 130 of them, single letters included). Reproducing the
# deletion is the point of qwen_compat: it is what makes '(+5)(b+2)' equal '(a+5)(b+2)' there (§3.2).
_QWEN_UNITS: tuple[str, ...] = (
    # single letters (the source of the '(+5)(b+2)' = '(a+5)(b+2)' false positive, §3.2)
    "a", "c", "d", "g", "h", "l", "m", "o", "s", "t",
    # the short words §3.1 names, which also eat LaTeX ('\\sec' -> '\\', '\\lt' -> '\\')
    "sec", "lt", "min", "per", "are", "by", "am", "pm", "st", "rd", "th",
    # length, area, volume, mass, time, money
    "mm", "cm", "dm", "km", "ft", "feet", "foot", "inch", "inches", "yard", "yards", "mile", "miles", "metre", "meter",
    "meters", "kilometer", "kilometers", "sq", "sq m", "sq ft", "sq cm", "square", "acre", "acres", "cu cm", "gal",
    "gallon", "gallons", "liter", "liters", "litre", "ml", "kg", "gm", "lb", "lbs", "pound", "pounds", "ounce",
    "ounces", "ton", "tons", "sec", "second", "seconds", "minute", "minutes", "hr", "hour", "hours", "day", "days",
    "week", "weeks", "month", "months", "yr", "year", "years", "noon", "mph", "kmph", "kmh", "deg", "degree",
    "degrees", "dollar", "dollars", "cent", "cents", "rs", "percent",
    # counted things and directions that word problems attach to numbers
    "unit", "units", "men", "women", "people", "student", "students", "toy", "toys", "coin", "coins", "tile", "tiles",
    "mark", "marks", "point", "points", "east", "west", "north", "south", "ratio", "profit", "gain", "excess", "way",
)
_QWEN_UNIT_RES = tuple((u, re.compile(r"(^|\W)" + re.escape(u) + r"($|\W)")) for u in _QWEN_UNITS)
_WORD_NUMBERS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenty": "20",
}
_QWEN_REL_TOL = 1e-4
_PARENT_MAX_CHARS = 5000


def qwen_extract(text: str) -> str | None:
    """Qwen's extraction order (§3.1): Minerva's "final answer is $X$. I hope", then the LAST boxed (wherever it is),
    then the last "he answer is", then "final answer is", else the last number. Kept only for qwen_compat."""
    if not text:
        return None
    if "final answer is $" in text and "$. I hope" in text:  # Minerva's format; str methods, linear on any text
        return _clean_answer(text.split("final answer is $")[-1].split("$. I hope")[0])
    if "boxed" in text:
        boxed = [content for _, content in _boxed_candidates(text)]
        if boxed and boxed[-1] is not None:
            return _clean_answer(boxed[-1])
    for phrase in ("he answer is", "final answer is"):
        if phrase in text:
            return _clean_answer(text.split(phrase)[-1].strip().split("\n")[0])
    numbers = _NUMBER.findall(text.replace(",", ""))
    return numbers[-1] if numbers else None


def _fix_fracs(s: str) -> str:
    """``\\frac12`` -> ``\\frac{1}{2}``, ``\\frac1{2}`` -> ``\\frac{1}{2}``."""
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*(\d)\s*\{", r"\\frac{\1}{", s)
    return re.sub(r"\\frac\s*\{([^{}]*)\}\s*(\d)", r"\\frac{\1}{\2}", s)


def _fix_sqrt(s: str) -> str:
    return re.sub(r"\\sqrt\s*([0-9a-zA-Z])", r"\\sqrt{\1}", s)


def qwen_strip(answer: str) -> str:
    """Hendrycks/Qwen-style aggressive normalisation (§3.1), including its defects (unit words deleted twice)."""
    s = str(answer).strip().replace("\n", "").rstrip(".").replace("\\!", "")
    s = re.sub(r"\\begin\{array\}\{[^}]*\}", r"\\begin{pmatrix}", s).replace("\\end{array}", "\\end{pmatrix}")
    s = s.replace("bmatrix", "pmatrix").replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\neq", "\\ne").replace("\\leq", "\\le").replace("\\geq", "\\ge")
    s = s.replace("\\left", "").replace("\\right", "").replace("\\{", "{").replace("\\}", "}")
    no_trailing_text = re.sub(r"\\text\{[^{}]*\}$", "", s).strip()
    if no_trailing_text:
        s = no_trailing_text
    for _ in range(2):
        for word, unit in _QWEN_UNIT_RES:
            if word not in s:
                continue
            replaced = unit.sub(r"\1\2", s)
            if replaced:
                s = replaced
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("\\$", "").replace("$", "")
    s = s.replace("\\(", "").replace("\\)", "")
    s = _WORD_NUMBER_RE.sub(lambda m: _WORD_NUMBERS[m.group(0).lower()], s)
    s = re.sub(r"\\text\{(.*?)\}", r"\1", s)
    for prefix in ("x=", "y=", "z=", "x\\in", "y\\in", "z\\in", "x\\to", "y\\to", "z\\to"):
        s = s.replace(prefix, "")
    s = s.replace("\\emptyset", "{}").replace("(-\\infty,\\infty)", "\\mathbb{R}")
    s = s.replace("\\%", "").replace("%", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    s = s.replace("infinity", "\\infty")
    if "\\infty" not in s:
        s = s.replace("inf", "\\infty")
    s = s.replace("and", "").replace("\\mathbf", "")
    s = re.sub(r"\\mbox\{.*?\}", "", s).replace("'", "").replace('"', "")
    s = re.sub(r"(?<=\d)\.0*(?=[^\d])", "", s)  # '1.000' -> '1'; lookbehind, not (\d+): linear on long digit runs
    s = re.sub(r"(?<=\d)\.0*$", "", s)
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    halves = s.split("=")
    if len(halves) == 2 and len(halves[0]) <= 2:
        s = halves[1]
    s = _fix_sqrt(s).replace(" ", "")
    s = _fix_fracs(s)
    slash = re.fullmatch(r"(-?\d+)/(\d+)", s)
    if slash is not None:
        s = f"\\frac{{{slash.group(1)}}}{{{slash.group(2)}}}"
    return re.sub(r"(\\|,|\.)+$", "", s)


_WORD_NUMBER_RE = re.compile(r"\b(?:" + "|".join(_WORD_NUMBERS) + r")\b", re.IGNORECASE)


def _qwen_number(s: str) -> float | None:
    """Qwen's ``is_digit``: a float after removing commas (a trailing '%' divides by 100); ``float()``, no eval."""
    t = s.replace(",", "").strip()
    scale = 1.0
    if t.endswith("%"):
        t, scale = t[:-1].rstrip("\\"), 0.01
    if not re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", t):
        return None
    try:
        return float(t) * scale
    except ValueError:
        return None


def _qwen_numeric(pred: str, gold: str) -> bool | None:
    """Qwen's numeric rule: isclose(rel_tol=1e-4) against gold, gold/100 and gold*100 (the percent rule)."""
    p, g = _qwen_number(pred), _qwen_number(gold)
    if p is None or g is None:
        return None
    return any(math.isclose(p, ref, rel_tol=_QWEN_REL_TOL) for ref in (g / 100, g, g * 100))


def _qwen_brackets_equal(pred: str, gold: str) -> bool:
    """Qwen's bracket handling: strip outer []()/{}() and compare, then element-wise for bracketed tuples (§3.1)."""
    p, g = pred.strip(), gold.strip()
    if (p.startswith("[") and p.endswith("]") and not g.startswith("(")) or (
        p.startswith("(") and p.endswith(")") and not g.startswith("[")
    ):
        p, g = p.strip("[]()"), g.strip("[]()")
    for ch in "{}()":
        p, g = p.replace(ch, ""), g.replace(ch, "")
    if p.lower() == g.lower():
        return True
    bracketed = re.compile(r"[(\[].+[)\]]")
    if bracketed.fullmatch(pred.strip()) and bracketed.fullmatch(gold.strip()):
        p_parts, g_parts = pred.strip()[1:-1].split(","), gold.strip()[1:-1].split(",")
        if len(p_parts) == len(g_parts) and len(p_parts) > 1:
            return all(_qwen_math_equal(a, b) for a, b in zip(p_parts, g_parts, strict=True))
    return False


def _qwen_matrix_equal(pred: str, gold: str) -> bool:
    def cells(s: str) -> list[list[str]] | None:
        m = re.fullmatch(r"\\begin\{[pb]matrix\}(.*)\\end\{[pb]matrix\}", s.strip(), re.DOTALL)
        if m is None:
            return None
        return [[c.strip() for c in row.split("&")] for row in m.group(1).split("\\\\") if row.strip()]

    pc, gc = cells(pred), cells(gold)
    if pc is None or gc is None or len(pc) != len(gc):
        return False
    if any(len(a) != len(b) for a, b in zip(pc, gc, strict=True)):
        return False
    return all(_qwen_math_equal(a, b) for ra, rb in zip(pc, gc, strict=True) for a, b in zip(ra, rb, strict=True))


def _qwen_equation_equal(pred: str, gold: str) -> bool:
    """``a=b`` compared as ``a-(b)`` up to sign; ``x=5`` against a bare gold compares the right-hand side (§3.1)."""
    if pred.count("=") == 1 and gold.count("=") == 1:
        pl, pr = pred.split("=")
        gl, gr = gold.split("=")
        p_expr, g_expr = f"{pl.strip()} - ({pr.strip()})", f"{gl.strip()} - ({gr.strip()})"
        return _qwen_symbolic(p_expr, g_expr) or _qwen_symbolic(f"-({p_expr})", g_expr)
    if pred.count("=") == 1 and len(pred.split("=")[0].strip()) <= 2 and "=" not in gold:
        return _qwen_math_equal(pred.split("=")[1], gold)
    if gold.count("=") == 1 and len(gold.split("=")[0].strip()) <= 2 and "=" not in pred:
        return _qwen_math_equal(pred, gold.split("=")[1])
    return False


def _qwen_symbolic(pred: str, gold: str) -> bool:
    """Qwen's sympy fallback with Math-Verify as the parser (no parse_expr/parse_latex on raw text, §6.7).

    Like Qwen it accepts structural/symbolic equality or numeric closeness (rel_tol 1e-4) of the evaluated values; the
    exact-rational check of the default mode is deliberately not applied, so ``1/2006!`` = ``1/2004!`` as in Qwen
    (§3.2).
    """
    try:
        gold_parsed, pred_parsed = _parse_gold(gold), _parse_pred(pred)
        if not gold_parsed or not pred_parsed:
            return False
        if _mv().verify(gold_parsed, pred_parsed, timeout_seconds=None):
            return True
        return _qwen_values_close(gold_parsed[0], pred_parsed[0])
    except Exception:  # noqa: BLE001 - Qwen's fallback treats any parse failure as "not equal"
        return False


def _qwen_values_close(gold: Any, pred: Any) -> bool:
    """Qwen's last resort: both sides evaluate to numbers within rel_tol 1e-4 (tiny values underflow to 0.0 == 0.0)."""
    import sympy

    if not (isinstance(gold, sympy.Expr) and isinstance(pred, sympy.Expr)):
        return False
    if gold.free_symbols or pred.free_symbols:
        return False
    try:
        g, p = complex(gold.evalf()), complex(pred.evalf())
    except (TypeError, ValueError, OverflowError):
        return False
    return math.isclose(g.real, p.real, rel_tol=_QWEN_REL_TOL) and math.isclose(g.imag, p.imag, rel_tol=_QWEN_REL_TOL)


def _qwen_math_equal(pred: str, gold: str) -> bool:
    pred, gold = pred.strip(), gold.strip()
    if pred.lower() == gold.lower():
        return True
    if not pred or not gold:
        return False
    numeric = _qwen_numeric(pred, gold)
    if numeric is not None:
        return numeric
    if gold in ("A", "B", "C", "D", "E") and re.sub(r"[^A-E]", "", pred.upper())[-1:] == gold:
        return True
    if _qwen_brackets_equal(pred, gold) or _qwen_matrix_equal(pred, gold):
        return True
    if "=" in pred or "=" in gold:
        if _qwen_equation_equal(pred, gold):
            return True
    return _qwen_symbolic(pred, gold)


def qwen_fast_verdict(pred: str, gold: str) -> bool | None:
    """The part of qwen_compat that needs no sympy (string and numeric rules), for the parent process.

    Very long answers go to a worker instead (None): the worker's time limit covers whatever the regexes cost there.
    """
    if len(pred) > _PARENT_MAX_CHARS or len(gold) > _PARENT_MAX_CHARS:
        return None
    p, g = qwen_strip(pred), qwen_strip(gold)
    if p.lower() == g.lower():  # Qwen compares before its emptiness check: '\\text{east}' strips to '' on both sides
        return True
    if not p or not g:
        return False
    return _qwen_numeric(p, g)


def qwen_equal(pred: str, gold: str) -> bool:
    """qwen_compat equivalence of two extracted answers: ``math_equal(strip_string(pred), strip_string(gold))``."""
    if not pred or not gold:
        return False
    return _qwen_math_equal(qwen_strip(pred), qwen_strip(gold))


# ---------------------------------------------------------------------------------------------------------------------
# Isolated worker pool with a per-item soft timer and a hard kill
# ---------------------------------------------------------------------------------------------------------------------


class _ItemTimeout(BaseException):
    """Raised by the worker's interval timer. A BaseException so that sympy's and Math-Verify's ``except Exception``
    blocks cannot swallow it (Math-Verify's own TimeoutException is a BaseException for the same reason)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _ItemTimeout


def _worker_entry() -> None:
    """Worker process body (``python -c`` entry): read fds from argv, import Math-Verify, say 'ready', then answer
    (index, pred, gold, mode, soft_s) messages with (index, status, value): status 'ok' (value: bool), 'timeout' or
    'error' (value: text). Exits when the parent closes its end of the pipe.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business; it will close us
    inbox = Connection(int(sys.argv[1]), writable=False)
    outbox = Connection(int(sys.argv[2]), readable=False)
    _configs()
    signal.signal(signal.SIGALRM, _on_alarm)
    outbox.send("ready")
    while True:
        try:
            msg = inbox.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index, pred, gold, mode, soft_s = msg
        status, value = _grade_one_guarded(pred, gold, mode, soft_s)
        try:
            outbox.send((index, status, value))
        except (BrokenPipeError, OSError):
            return


def _grade_one_guarded(pred: str, gold: str, mode: str, soft_s: float) -> tuple[str, Any]:
    try:
        signal.setitimer(signal.ITIMER_REAL, soft_s)
        try:
            return "ok", answers_equal(pred, gold, mode)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _ItemTimeout:
        return "timeout", None
    except BaseException as exc:  # noqa: BLE001 - Math-Verify's TimeoutException, RecursionError, ... all score False
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return "error", f"{type(exc).__name__}: {str(exc)[:200]}"


@dataclass
class _Slot:
    proc: subprocess.Popen[bytes]
    inbox: Connection  # parent -> worker
    outbox: Connection  # worker -> parent
    ready: bool = False
    task: int | None = None
    deadline: float = math.inf


_WORKER_CODE = "from lemma.grading import _worker_entry; _worker_entry()"


def _start_worker(start_limit_s: float) -> _Slot:
    """A fresh ``python -c`` worker talking over two pipes.

    Not ``multiprocessing``: its spawn/forkserver methods re-import the parent's ``__main__`` in the child (a pipeline
    script without a main guard would run again; code from stdin fails), and fork is unsafe next to CUDA threads.
    """
    p2c_r, p2c_w = os.pipe()
    c2p_r, c2p_w = os.pipe()
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE, str(p2c_r), str(c2p_w)],
            pass_fds=(p2c_r, c2p_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=env,
        )
    finally:
        os.close(p2c_r)
        os.close(c2p_w)
    return _Slot(
        proc=proc,
        inbox=Connection(p2c_w, readable=False),
        outbox=Connection(c2p_r, writable=False),
        deadline=time.monotonic() + start_limit_s,
    )


def _stop_worker(slot: _Slot) -> None:
    if slot.proc.poll() is None:
        slot.proc.kill()
    slot.proc.wait(timeout=10)
    slot.inbox.close()
    slot.outbox.close()


class _WorkerPool:
    """Worker processes with one task each at a time, so that a stuck task can be killed on its own.

    ``concurrent.futures.ProcessPoolExecutor`` cannot kill one stuck worker (killing it breaks the whole pool), and
    pebble is not available, hence this small dispatcher over pipes.
    """

    _START_LIMIT_S = 120.0
    _MAX_FAILED_STARTS = 3

    def __init__(self, soft_s: float, hard_s: float) -> None:
        self._soft_s = soft_s
        self._hard_s = hard_s
        self._failed_starts = 0
        self._slots: list[_Slot] = []

    def grow(self, workers: int) -> None:
        """Start workers up to ``workers`` in total (they import Math-Verify in parallel)."""
        while len(self._slots) < workers:
            self._slots.append(_start_worker(self._START_LIMIT_S))

    def _replace(self, slot: _Slot) -> None:
        _stop_worker(slot)
        fresh = _start_worker(self._START_LIMIT_S)
        slot.proc, slot.inbox, slot.outbox = fresh.proc, fresh.inbox, fresh.outbox
        slot.ready, slot.task, slot.deadline = False, None, fresh.deadline

    def run(self, tasks: Sequence[tuple[str, str, str]]) -> list[tuple[str, Any]]:
        """Run (pred, gold, mode) tasks; returns (status, value) per task, in order."""
        results: list[tuple[str, Any] | None] = [None] * len(tasks)
        pending = deque(range(len(tasks)))
        remaining = len(tasks)
        while remaining:
            self._dispatch(pending, tasks)
            wait_s = max(0.0, min(s.deadline for s in self._slots) - time.monotonic())
            for conn in wait([s.outbox for s in self._slots], timeout=wait_s):
                slot = next(s for s in self._slots if s.outbox is conn)
                remaining -= self._receive(slot, results)
            remaining -= self._expire(results)
        return [r if r is not None else ("error", "lost") for r in results]

    def _dispatch(self, pending: deque[int], tasks: Sequence[tuple[str, str, str]]) -> None:
        for slot in self._slots:
            if slot.ready and slot.task is None and pending:
                index = pending.popleft()
                pred, gold, mode = tasks[index]
                slot.task, slot.deadline = index, time.monotonic() + self._hard_s
                try:
                    slot.inbox.send((index, pred, gold, mode, self._soft_s))
                except OSError:  # died while idle; _receive sees the EOF and reports the task
                    pass

    def _receive(self, slot: _Slot, results: list[Any]) -> int:
        """Handle one message from ``slot``; returns how many tasks finished (0 or 1)."""
        try:
            msg = slot.outbox.recv()
        except (EOFError, OSError):  # the worker died (OOM kill, a crash in a C extension, ...)
            return self._worker_died(slot, results)
        if msg == "ready":
            slot.ready, slot.deadline = True, math.inf
            self._failed_starts = 0
            return 0
        index, status, value = msg
        results[index] = (status, value)
        slot.task, slot.deadline = None, math.inf
        return 1

    def _note_failed_start(self) -> None:
        self._failed_starts += 1
        if self._failed_starts >= self._MAX_FAILED_STARTS:
            raise RuntimeError("grader workers fail to start (is math-verify installed for sys.executable?)")

    def _worker_died(self, slot: _Slot, results: list[Any]) -> int:
        task = slot.task
        if not slot.ready:
            self._note_failed_start()
        self._replace(slot)
        if task is None:
            return 0
        results[task] = ("error", "grader worker died")
        return 1

    def _expire(self, results: list[Any]) -> int:
        """Kill and replace every worker past its deadline; its task times out. Returns tasks finished."""
        now = time.monotonic()
        finished = 0
        for slot in self._slots:
            if slot.deadline > now:
                continue
            if slot.task is None:  # start-up took longer than the start limit
                self._note_failed_start()
            else:
                results[slot.task] = ("timeout", None)
                finished += 1
            self._replace(slot)
        return finished

    def close(self) -> None:
        for slot in self._slots:
            try:
                slot.inbox.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 0.2  # workers hold no state worth a slow interpreter shutdown
        for slot in self._slots:
            try:
                slot.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _stop_worker(slot)
        self._slots = []


# ---------------------------------------------------------------------------------------------------------------------
# Public Grader
# ---------------------------------------------------------------------------------------------------------------------


def _gold_text(gold: str | None) -> str:
    """A canonical gold as compared, trimmed like an extracted prediction: a sentence-final '.' and plain unit words
    after a number go ('E(t)=360 t, t \\geq 0.', '3.6 hours' -> '3.6': College-Math golds carry both), so that
    extraction's '3.6' is not compared with the product 3.6*h*o*u*r*s."""
    return "" if gold is None else _drop_unit_words(str(gold).strip().rstrip(".").strip())


def _default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


class Grader:
    """Grades (prediction_text, gold) pairs in worker processes with a hard per-item wall-clock limit.

    A timeout scores False and is counted in ``timeouts`` (worker failures in ``errors``). Context manager; cheap to
    construct: the pool starts on the first item that the parent-side fast path cannot decide, so an all-numeric batch
    never starts a process, and it grows to ``workers`` only as batches need. Not thread-safe: one Grader per thread.
    """

    _GRACE_S = 1.0

    def __init__(self, mode: str = "math_verify", timeout_s: float = 10.0, workers: int | None = None) -> None:
        _check_mode(mode)
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.mode = mode
        self.timeout_s = float(timeout_s)
        self.workers = workers if workers is not None else _default_workers()
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        self.timeouts = 0
        self.errors = 0
        self._pool: _WorkerPool | None = None

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def close(self) -> None:
        """Stop the workers (a later call to grade() starts a fresh pool)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()

    def extract(self, text: str) -> str | None:
        """The extraction this grader's mode uses (position-based by default, Qwen's order in qwen_compat)."""
        return qwen_extract(text) if self.mode == "qwen_compat" else extract_answer(text)

    def grade(self, predictions: Sequence[str], golds: Sequence[str], *, extract: bool = True) -> list[Verdict]:
        """extract=True: predictions are full responses (the mode's extraction applies); False: bare answers.

        golds are canonical gold strings (see ``normalize_gold``).
        """
        if len(predictions) != len(golds):
            raise ValueError(f"{len(predictions)} predictions but {len(golds)} golds")
        extracted = [self._extracted(p, extract) for p in predictions]
        verdicts = self._compare(extracted, [_gold_text(g) for g in golds])
        return [
            Verdict(extracted=e, correct=ok, timed_out=status == "timeout", error=err)
            for e, (ok, status, err) in zip(extracted, verdicts, strict=True)
        ]

    def equal_answers(self, a: Sequence[str], b: Sequence[str]) -> list[bool]:
        """Pairwise equivalence of bare answers (majority-vote clustering, "did the answer change"); ``b`` is gold."""
        if len(a) != len(b):
            raise ValueError(f"{len(a)} vs {len(b)} answers")
        return [ok for ok, _, _ in self._compare(list(a), list(b))]

    def _extracted(self, prediction: str | None, extract: bool) -> str | None:
        if prediction is None:
            return None
        if extract:
            return self.extract(str(prediction))
        return _clean_answer(str(prediction))

    def _compare(self, preds: Sequence[str | None], golds: Sequence[str]) -> list[tuple[bool, str, str | None]]:
        """(correct, status, error) per pair: decided in the parent when cheap, in the pool otherwise."""
        out: list[tuple[bool, str, str | None] | None] = [None] * len(preds)
        todo: list[int] = []
        for i, (p, g) in enumerate(zip(preds, golds, strict=True)):
            fast = self._fast(p, g)
            if fast is None:
                todo.append(i)
            else:
                out[i] = (fast, "ok", None)
        if todo:
            results = self._run([(preds[i] or "", golds[i], self.mode) for i in todo])
            for i, (status, value) in zip(todo, results, strict=True):
                out[i] = self._settle(status, value)
        return [o for o in out if o is not None]

    def _fast(self, pred: str | None, gold: str) -> bool | None:
        if pred is None or not pred.strip() or not gold.strip():
            return False
        if self.mode == "qwen_compat":
            return qwen_fast_verdict(pred, gold)
        return parent_verdict(pred, gold)

    def _settle(self, status: str, value: Any) -> tuple[bool, str, str | None]:
        if status == "ok":
            return bool(value), "ok", None
        if status == "timeout":
            self.timeouts += 1
            return False, "timeout", None
        self.errors += 1
        return False, "error", str(value)

    def _run(self, tasks: list[tuple[str, str, str]]) -> list[tuple[str, Any]]:
        if self._pool is None:
            self._pool = _WorkerPool(self.timeout_s, self.timeout_s + self._GRACE_S)
        self._pool.grow(min(self.workers, len(tasks)))  # a 1-item call does not pay for 8 start-ups
        return self._pool.run(tasks)
