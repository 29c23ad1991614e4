"""Math-Verify core (EVALUATION.md §4, §6.1-6.3): parse both sides, compare exactly where Math-Verify would round,
verify the rest. Runs in worker processes; Math-Verify and sympy are imported lazily so that importing the grader
stays cheap.

An answer (``Answer.span`` False) is parsed as ``\\boxed{answer}`` (bare golds such as ``\\dfrac{9}{7}`` do not parse
otherwise, §4.2; boxing the prediction too means the "0" of Math-Verify#60 is never extracted), with a numeral
rewritten first so that '$1,234$' is 1234 (a plain-text '1,22' is tried as 1.22 and as the list {1, 22}). A span is
handed to Math-Verify's own extraction, which picks the answer inside it (the number after "is", the last
expression), after European numerals in it are rewritten ('1.234,56' -> '1234.56'; it would read 1.234). Golds use
``LatexExtractionConfig()``, predictions ``LatexExtractionConfig(boxed_match_priority=0)``, both with
``ExprExtractionConfig()``.

Security (§6.6): no model text reaches ``eval``, ``exec``, ``sympify`` or ``parse_expr`` from our code; the only
``parse_expr`` is Math-Verify's regex-limited expression path (digits and operators only, §4.1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lemma.grading.extraction import Answer, strip_markdown
from lemma.grading.numbers import (EXACT_NUMBERS, canonical_numeral, european_to_dot, exact_verdict, number_rule,
                                   parent_rule, readings)

__all__ = ["Outcome", "compare_answers", "configs", "math_verify", "parse_gold", "parse_pred", "parsed_text"]

_PARSE_CACHE = 4096


class _TimeoutWarningFilter(logging.Filter):
    """Math-Verify warns once that its alarm is off; off is deliberate here (the worker's timer replaces it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


@lru_cache(maxsize=1)
def math_verify() -> Any:
    """Import Math-Verify once per process, with its timeout warning filtered."""
    import math_verify as mv

    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(_TimeoutWarningFilter())
    return mv


@lru_cache(maxsize=1)
def configs() -> tuple[list[Any], list[Any]]:
    """(gold extraction config, prediction extraction config)."""
    mv = math_verify()
    gold_cfg = [mv.LatexExtractionConfig(), mv.ExprExtractionConfig()]
    pred_cfg = [mv.LatexExtractionConfig(boxed_match_priority=0), mv.ExprExtractionConfig()]
    return gold_cfg, pred_cfg


def _parse(text: str, span: bool, cfg: list[Any]) -> list[Any]:
    mv = math_verify()
    if span:
        return mv.parse(european_to_dot(text), cfg, parsing_timeout=None)
    numeral = canonical_numeral(text)
    body = numeral if numeral is not None else strip_markdown(text).strip()
    parsed = mv.parse(f"\\boxed{{{body}}}", cfg, parsing_timeout=None)
    if not parsed:  # e.g. unbalanced braces: let Math-Verify's own extraction try the raw string
        parsed = mv.parse(body, cfg, parsing_timeout=None)
    return parsed


@lru_cache(maxsize=_PARSE_CACHE)
def parse_gold(text: str, span: bool = False) -> list[Any]:
    """A gold answer (or a solution span) -> Math-Verify's parse."""
    return _parse(text, span, configs()[0])


@lru_cache(maxsize=_PARSE_CACHE)
def parse_pred(text: str, span: bool = False) -> list[Any]:
    """A predicted answer (or a response span) -> Math-Verify's parse."""
    return _parse(text, span, configs()[1])


def _is_percent(expr: Any) -> bool:
    """Math-Verify's ``n * (1/100)`` (unevaluated) for '28 percent': its extracted string drops the percent sign."""
    import sympy

    return isinstance(expr, sympy.Mul) and len(expr.args) == 2 and expr.args[1] == sympy.Rational(1, 100)


def parsed_text(parsed: list[Any]) -> str | None:
    """The answer text Math-Verify extracted (with '\\%' restored on a percentage), or None."""
    if len(parsed) < 2 or not isinstance(parsed[-1], str):
        return None
    text = parsed[-1].strip()
    if _is_percent(parsed[0]) and canonical_numeral(text) is not None and "%" not in text:
        text += "\\%"
    return text or None


@dataclass(frozen=True)
class Outcome:
    """A verdict, the answer text it was reached on, and the lemma rule that decided it (None: Math-Verify did)."""

    correct: bool
    extracted: str | None
    rule: str | None = None


def compare_answers(pred: Answer, gold: Answer) -> Outcome:
    """Equivalence of a predicted answer (or span) with a gold answer (or span); a plain-text decimal comma is tried
    both ways (``numbers.readings``). No time limit of its own: call it on untrusted text only inside a killable
    worker (§3.2 "Hangs")."""
    if not pred.text or not pred.text.strip() or not gold.text or not gold.text.strip():
        return Outcome(False, None if pred.span else pred.text)
    outcomes = []
    for p in _readings(pred):
        for g in _readings(gold):
            outcome = _compare_one(p, g)
            if outcome.correct:
                return Outcome(True, outcome.extracted if pred.span else pred.text, outcome.rule)
            outcomes.append(outcome)
    first = outcomes[0]
    return Outcome(False, first.extracted if pred.span else pred.text, first.rule)


def _readings(answer: Answer) -> list[Answer]:
    if answer.span or answer.text is None:
        return [answer]
    return [Answer(text) for text in readings(answer.text, answer.plain)]


def _compare_one(pred: Answer, gold: Answer) -> Outcome:
    if not pred.span and not gold.span:
        decided = parent_rule(pred.text or "", gold.text or "")
        if decided is not None:
            return Outcome(decided[0], pred.text, decided[1])
    gold_parsed = parse_gold(gold.text, gold.span)
    pred_parsed = parse_pred(pred.text, pred.span)
    extracted = parsed_text(pred_parsed) if pred.span else pred.text
    if not gold_parsed or not pred_parsed:
        return Outcome(False, extracted)
    if pred.span or gold.span:  # a numeral read out of a sentence compares exactly too
        gold_text = parsed_text(gold_parsed) if gold.span else gold.text
        decided = number_rule(extracted, gold_text) if extracted and gold_text else None
        if decided is not None:
            return Outcome(decided[0], extracted, decided[1])
    exact = exact_verdict(gold_parsed[0], pred_parsed[0])
    if exact is not None:
        return Outcome(exact, extracted, EXACT_NUMBERS)
    return Outcome(bool(math_verify().verify(gold_parsed, pred_parsed, timeout_seconds=None)), extracted)
