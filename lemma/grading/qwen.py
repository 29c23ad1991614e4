"""qwen_compat: the Qwen2.5-Math rules behind LEMMA's published numbers (EVALUATION.md §3.1, §6.7), re-implemented
without ``parse_expr`` on raw text and without code execution.

Why keep a grader with known defects: the paper's numbers come from it, so a replication reports both. It re-implements
Qwen's extraction order (Minerva's "final answer is $X$. I hope", then the LAST boxed wherever it is, then "The answer
is", else the last number: a response cut off by the token limit is graded on its last number, as in the paper),
``strip_string``-style normalisation with unit-word deletion, numeric ``rel_tol=1e-4`` with the x100 percent rule,
bracket stripping, element-wise tuples/matrices and ``a=b`` as ``a-(b)``, with Math-Verify's ``parse``/``verify`` plus a
numeric-closeness check as the symbolic fallback instead of ``parse_expr``/``parse_latex``. It therefore reproduces the
§3.2 false positives and the ``\\sec``/``\\lt`` false negatives, but is more lenient than Qwen where Math-Verify
understands more (relations ``x \\geq 5`` vs ``5 \\leq x``, ``\\cfrac``). The unit-word list is our own (~150 words
with the letters and words §3.1 names), not Qwen's exact list.
"""

from __future__ import annotations

import math
import re
from typing import Any

from lemma.grading.core import math_verify, parse_gold, parse_pred
from lemma.grading.extraction import boxed_candidates, clean_answer

__all__ = ["qwen_equal", "qwen_extract", "qwen_fast_verdict", "qwen_strip"]

_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")

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
        return clean_answer(text.split("final answer is $")[-1].split("$. I hope")[0])
    if "boxed" in text:
        boxed = boxed_candidates(text)
        if boxed and boxed[-1].content is not None:
            return clean_answer(boxed[-1].content)
    for phrase in ("he answer is", "final answer is"):
        if phrase in text:
            return clean_answer(text.split(phrase)[-1].strip().split("\n")[0])
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
        gold_parsed, pred_parsed = parse_gold(gold), parse_pred(pred)
        if not gold_parsed or not pred_parsed:
            return False
        if math_verify().verify(gold_parsed, pred_parsed, timeout_seconds=None):
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
