"""Exact numbers: plain numerals compared in the parent (no sympy, no IPC, no tolerance), exact rationals in workers.

Why a path of our own when Math-Verify reads numbers too: it compares floats after rounding to 6 decimals and has
no view on formats it cannot see inside LaTeX (``10{,}000``), while a GSM8K-style batch should be graded without
starting a worker. Here two plain numerals compare exactly as ``Decimal``: '20' = '20.0', '500' != '5', '10' !=
'10.0009' (no relative tolerance, no x100 rule, EVALUATION.md §3.2). Formats read like Math-Verify's number regex:
thousands separators (',', ' ', '{,}', '\\,') and a currency sign before or after. Policy: a percent sign on exactly
one side may be a unit ('25\\%' answers "what percent?" with gold 25) or x1/100 ('25\\%' = 0.25); both readings are
accepted, and '0.5' vs '50' stays False.

Decimal commas: inside LaTeX a comma separates items ('\\boxed{1,5}' is the set {1, 5}, as Math-Verify reads it), but
an answer written in plain text whose comma cannot be a thousands separator ('1,22', '0,111', '1000,99', European
'1.234,56', '12,50 €') also reads as a decimal; ``readings`` gives both, and either may match.
"""

from __future__ import annotations

import math
import re
from decimal import Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

__all__ = ["DECIMAL_COMMA", "EXACT_NUMBERS", "IDENTICAL", "PERCENT_AS_UNIT", "as_number", "canonical_numeral",
           "european_to_dot", "exact_verdict", "has_decimal_comma", "number_rule", "numeric_verdict", "parent_rule",
           "parent_rule_readings", "parent_verdict", "readings", "same_text"]

# Rule names reported by `python -m lemma.grade --compare` when they make lemma differ from plain Math-Verify.
EXACT_NUMBERS = "exact numbers"
PERCENT_AS_UNIT = "percent as unit"
IDENTICAL = "identical answers"
DECIMAL_COMMA = "decimal comma"

_MAX_NUMERAL_CHARS = 400
_EXACT = Context(prec=2000)  # 400-character numerals, scaled by 100, stay exact

_EXPONENT = r"(?:[eE][+-]?\d{1,4})?"
# Unsigned numeral bodies, tried in order; the first that matches the whole body decides how it reads.
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?|[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?")
_EUROPEAN = re.compile(r"[1-9]\d{0,2}(?:[. ]\d{3})+,\d+")  # '1.234,56', '1 234,56'
_DECIMAL_COMMA = re.compile(r"\d+,\d+")  # tried after _THOUSANDS: the comma cannot be a thousands separator
_PLAIN = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)" + _EXPONENT)

_WRAPPERS = re.compile(r"^\{(.*)\}$|^\\boxed\{(.*)\}$|^\$(.*)\$$|^\\\((.*)\\\)$")
_CURRENCY = ("\\$", "$", "€", "£", "¥", "₹", "\\euro", "\\pounds")
_PERCENT_SUFFIX = re.compile(r"\s*(?:\\%|%|\\text\{\s*\\?%\s*\}|\\text\{\s*percent\s*\}|percent|pct)$")


def _body_value(body: str, decimal_comma: bool) -> Decimal | None:
    """Value of an unsigned numeral body, or None when it is not one."""
    if _THOUSANDS.fullmatch(body):
        return Decimal(body.replace(",", "").replace(" ", ""))
    if decimal_comma and _EUROPEAN.fullmatch(body):
        return Decimal(body.replace(".", "").replace(" ", "").replace(",", "."))
    if decimal_comma and _DECIMAL_COMMA.fullmatch(body):
        return Decimal(body.replace(",", "."))
    if _PLAIN.fullmatch(body):
        return Decimal(body)
    return None


def _peel(answer: str) -> str:
    """Strip the wrappers and typography a bare numeric answer may carry ('{5}', '$5$', '10{,}000', '3,\\!000')."""
    s = answer.strip()
    for _ in range(3):
        m = _WRAPPERS.match(s)
        if m is None:
            break
        s = next(g for g in m.groups() if g is not None).strip()
    return s.replace("\\!", "").replace("{,}", ",").replace("\\,", " ").replace("~", " ").replace("\u2212", "-")


def _strip_currency(s: str) -> str:
    for sign in _CURRENCY:
        if s.startswith(sign):
            return s[len(sign):].strip()
        if s.endswith(sign) and not s.endswith("\\" + sign):
            return s[: -len(sign)].strip()
    return s


def _split_sign(s: str) -> tuple[str, str]:
    return (s[0], s[1:].lstrip()) if s[:1] in "+-" else ("", s)


def as_number(answer: str, decimal_comma: bool = False) -> tuple[Decimal, bool] | None:
    """(exact value, carries a percent sign) if ``answer`` is nothing but a numeral; None otherwise.

    ``decimal_comma``: read a comma that cannot be a thousands separator as a decimal mark (plain-text answers).
    """
    if len(answer) > _MAX_NUMERAL_CHARS:
        return None
    s = _peel(answer)
    percent = _PERCENT_SUFFIX.search(s)
    if percent is not None:
        s = s[: percent.start()].rstrip()
    sign, s = _split_sign(s)
    s = _strip_currency(s)
    if not sign:  # '$-5'
        sign, s = _split_sign(s)
    try:
        value = _body_value(s, decimal_comma)
    except InvalidOperation:
        return None
    if value is None:
        return None
    return (-value if sign == "-" else value), percent is not None


def _written(number: tuple[Decimal, bool]) -> str:
    value, percent = number
    return format(value, "f") + ("\\%" if percent else "")


def readings(answer: str, plain: bool) -> list[str]:
    """The ways an answer may be meant: a plain-text numeral with a decimal comma is that decimal or the list it
    spells ('1,22' -> ['1.22', '1,22']); anything else has one reading."""
    if not plain or "," not in answer or as_number(answer) is not None:
        return [answer]
    number = as_number(answer, decimal_comma=True)
    return [answer] if number is None else [_written(number), answer]


# at most five digit groups: bounded repetition keeps a 100 kB run of "111 111 ..." linear
_EUROPEAN_IN_TEXT = re.compile(r"(?<![\d.,])([1-9]\d{0,2}(?:[. ]\d{3}){1,5}),(\d+)(?![\d,]|\.\d)")
_COMMA_NUMERAL = re.compile(r"(?<![\d.,])\d+(?:[. ]\d{3}){0,5},\d+(?![\d,]|\.\d)")


def european_to_dot(text: str) -> str:
    """'1.234,56 €' -> '1234.56 €' in running text: Math-Verify reads dot-grouped numerals as '1.234' (a decimal comma
    without groups, '2,5', it reads itself)."""
    if "," not in text:
        return text
    return _EUROPEAN_IN_TEXT.sub(lambda m: m.group(1).replace(".", "").replace(" ", "") + "." + m.group(2), text)


def has_decimal_comma(text: str) -> bool:
    """Whether ``text`` holds a numeral whose comma cannot be a thousands separator ('1,22', '1.234,56')."""
    return any(as_number(m.group(0)) is None for m in _COMMA_NUMERAL.finditer(text))


def canonical_numeral(answer: str) -> str | None:
    """The numeral as Math-Verify parses it without ambiguity ('$1,234$' -> '1234', '\\$18' -> '18', '25\\%' ->
    '25\\%'); None when ``answer`` is not a numeral."""
    number = as_number(answer)
    return None if number is None else _written(number)


def number_rule(pred: str, gold: str) -> tuple[bool, str] | None:
    """(verdict, rule name) when both sides are numerals; None otherwise (see the module docstring)."""
    g = as_number(gold)
    if g is None:
        return None
    p = as_number(pred)
    if p is None:
        return None
    (g_value, g_pct), (p_value, p_pct) = g, p
    if g_pct == p_pct:
        return g_value == p_value, EXACT_NUMBERS
    pct_value, plain_value = (p_value, g_value) if p_pct else (g_value, p_value)
    if plain_value == pct_value:
        return True, PERCENT_AS_UNIT
    return _EXACT.multiply(plain_value, 100) == pct_value, EXACT_NUMBERS


def numeric_verdict(pred: str, gold: str) -> bool | None:
    """Exact verdict when both sides are numerals ('20' vs '20.0' True, '500' vs '5' False); None otherwise."""
    rule = number_rule(pred, gold)
    return None if rule is None else rule[0]


def same_text(pred: str, gold: str) -> bool:
    """Identical answers, whitespace runs aside: equal without any parsing."""
    return " ".join(pred.split()) == " ".join(gold.split())


def parent_rule(pred: str, gold: str) -> tuple[bool, str | None] | None:
    """(verdict, rule) the parent decides without sympy (identical text, numerals); None sends the pair on."""
    if same_text(pred, gold):
        return True, IDENTICAL
    return number_rule(pred, gold)


def parent_rule_readings(pred: str, pred_plain: bool, gold: str, gold_plain: bool) -> tuple[bool, str | None] | None:
    """``parent_rule`` over every reading of both sides: True if any pair matches, False if every pair is decided."""
    decided = [parent_rule(p, g) for p in readings(pred, pred_plain) for g in readings(gold, gold_plain)]
    match = next((d for d in decided if d is not None and d[0]), None)
    if match is not None:
        return match
    return decided[0] if all(d is not None for d in decided) else None


def parent_verdict(pred: str, gold: str) -> bool | None:
    """What the parent decides without sympy (identical text, numerals); None sends the pair to Math-Verify."""
    decided = parent_rule(pred, gold)
    return None if decided is None else decided[0]


# Exact rationals from Math-Verify's parse (runs in workers: walks the sympy tree, never sympify/eval) ---------------

_EXACT_MAX_BITS = 1 << 20  # refuse to build exact values over ~1 Mbit (a 300k-digit number): that is the tower case
_EXACT_MAX_FACTORIAL = 5000


def exact_verdict(gold: Any, pred: Any) -> bool | None:
    """Exact comparison when both parses are exact rational numbers, else None (Math-Verify decides).

    Math-Verify compares numbers after rounding to 6 decimals, so ``1/2004!`` = ``1/2006!``, ``1/2^{99}`` = ``1/2^{98}``
    and ``10^{-20}`` = ``10^{-21}`` (Math-Verify#14, EVALUATION.md §4.2); two exact rationals need no rounding.
    """
    g = _exact_value(gold)
    if g is None:
        return None
    p = _exact_value(pred)
    if p is None:
        return None
    return g == p


def _exact_value(expr: Any) -> Fraction | None:
    """Value of a sympy tree made only of integers, rationals, +, *, integer powers and small factorials; None when
    the tree holds anything else or would grow too big."""
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
