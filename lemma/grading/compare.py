"""Disagreements with plain Math-Verify, by named rule (``python -m lemma.grade IN --compare math_verify``).

Why: lemma's grader must never read less than the library it wraps, and where it differs on purpose a reader should
see which rule made it differ. "Plain Math-Verify" is what a new user would run: ``verify(parse(gold),
parse(response))`` with the default extraction (LaTeX plus expressions) and precision. A disagreement is put down to
lemma's reading of the response, of the gold, or its comparison, by giving Math-Verify lemma's readings:

* ``truncated response``: the response was cut off before any answer marker; lemma scores it wrong.
* ``exact numbers`` / ``percent as unit`` / ``identical answers``: with both of lemma's readings Math-Verify still
  disagrees, so lemma's own comparison decided (exact numerals and rationals instead of 6-decimal rounding; a percent
  sign on one side read as a unit; identical text that Math-Verify cannot parse).
* ``last answer wins``: Math-Verify agrees once given the answer lemma took, the last of several answer statements
  (or the one after a reasoning block); ``decimal comma`` when it holds a numeral such as '1,22' or '1.234,56'
  that lemma reads as a decimal; ``several boxes`` when it is one answer boxed in parts that Math-Verify does not
  join; ``whole answer`` otherwise: lemma reads all that a single marker introduces
  ('The answer is 2, 3, and 5' is the list), where Math-Verify takes the first number after "answer".
* ``gold as an answer``: Math-Verify agrees once given lemma's reading of the gold (a bare LaTeX gold boxed, a
  solution's final answer, a list such as ``3,5`` read as a list).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lemma.grading.core import math_verify, parse_gold, parse_pred, parsed_text
from lemma.grading.extraction import LAST_ANSWER_WINS, SEVERAL_BOXES, TRUNCATED, Answer, extract, gold_answer
from lemma.grading.numbers import (DECIMAL_COMMA, EXACT_NUMBERS, IDENTICAL, PERCENT_AS_UNIT, has_decimal_comma,
                                   readings)

__all__ = ["WHOLE_ANSWER", "COMPARE_TARGETS", "GOLD_AS_ANSWER", "QWEN_RULES", "RULES", "MathVerifyVerdict",
           "classify", "compare_with_math_verify", "math_verify_record"]

GOLD_AS_ANSWER = "gold as an answer"
WHOLE_ANSWER = "whole answer"
QWEN_RULES = "qwen_compat rules"
RULES: tuple[str, ...] = (TRUNCATED, EXACT_NUMBERS, PERCENT_AS_UNIT, IDENTICAL, GOLD_AS_ANSWER, LAST_ANSWER_WINS,
                          DECIMAL_COMMA, SEVERAL_BOXES, WHOLE_ANSWER, QWEN_RULES)
COMPARE_TARGETS: tuple[str, ...] = ("math_verify",)


def math_verify_record(response: str, gold: str, lemma_pred: tuple[str | None, bool, bool],
                       lemma_gold: tuple[str | None, bool, bool]) -> dict[str, Any]:
    """Worker side: plain Math-Verify's verdict and extracted answer, and its verdicts when given lemma's answer or
    lemma's gold instead of reading them itself (what ``classify`` needs)."""
    mv = math_verify()
    gold_parsed = mv.parse(gold, parsing_timeout=None)
    pred_parsed = mv.parse(response, parsing_timeout=None)
    lemma_gold_parsed = _lemma_parse(parse_gold, lemma_gold)
    lemma_pred_parsed = _lemma_parse(parse_pred, lemma_pred)

    def agrees(golds: list[Any], preds: list[Any]) -> bool:
        return any(bool(mv.verify(g, p, timeout_seconds=None)) for g in golds for p in preds)

    return {
        "correct": agrees([gold_parsed], [pred_parsed]),
        "extracted": parsed_text(pred_parsed),
        "with_lemma_gold": agrees(lemma_gold_parsed, [pred_parsed]),
        "with_lemma_answer": agrees([gold_parsed], lemma_pred_parsed),
        "with_lemma_both": agrees(lemma_gold_parsed, lemma_pred_parsed),
    }


def _lemma_parse(parse: Any, wire: tuple[str | None, bool, bool]) -> list[list[Any]]:
    """Lemma's parse of an answer, one per reading ('1,22' in plain text: 1.22 and the list)."""
    text, span, plain = wire
    if not text:
        return [[]]
    if span:
        return [parse(text, True)]
    return [parse(reading, False) for reading in readings(text, plain)]


@dataclass(frozen=True)
class MathVerifyVerdict:
    """Plain Math-Verify beside one lemma verdict; ``disagreement`` names the rule (None when they agree)."""

    correct: bool | None  # None: Math-Verify timed out or failed on this item
    extracted: str | None
    disagreement: str | None


def classify(verdict: Any, answer: Answer, record: dict[str, Any], mode: str = "math_verify") -> str | None:
    """The rule that accounts for lemma's verdict differing from plain Math-Verify's (None when they agree)."""
    lemma = bool(verdict.correct)
    if lemma == record["correct"]:
        return None
    if mode != "math_verify":
        return QWEN_RULES
    if verdict.truncated:
        return TRUNCATED
    if record["with_lemma_both"] != lemma:  # lemma's comparison decided, not its readings
        return verdict.rule or EXACT_NUMBERS
    answer_rule = _answer_rule(answer)
    if record["with_lemma_answer"] == lemma:
        return answer_rule
    if record["with_lemma_gold"] == lemma:
        return GOLD_AS_ANSWER
    return answer_rule  # both readings were needed; the response's is named


def _answer_rule(answer: Answer) -> str:
    if answer.after_other_answers:
        return LAST_ANSWER_WINS
    if answer.text and (answer.span or answer.plain) and has_decimal_comma(answer.text):
        return DECIMAL_COMMA
    return SEVERAL_BOXES if answer.several_boxes else WHOLE_ANSWER


def compare_with_math_verify(grader: Any, responses: Sequence[str], golds: Sequence[str], verdicts: Sequence[Any],
                             truncated: Sequence[bool | None] | None = None) -> list[MathVerifyVerdict]:
    """Plain Math-Verify on each (response, gold), in ``grader``'s workers and time limits, with the disagreements
    classified. ``verdicts`` are ``grader.grade(responses, golds, truncated=truncated)``'s."""
    flags = [None] * len(responses) if truncated is None else list(truncated)
    answers = [extract(r, t) for r, t in zip(responses, flags, strict=True)]
    tasks = [("math_verify", r, g, a.wire(), gold_answer(g).wire())
             for r, g, a in zip(responses, golds, answers, strict=True)]
    out: list[MathVerifyVerdict] = []
    for verdict, answer, (status, value) in zip(verdicts, answers, grader.run(tasks), strict=True):
        if status != "ok":
            out.append(MathVerifyVerdict(None, None, None))
            continue
        out.append(MathVerifyVerdict(value["correct"], value["extracted"], classify(verdict, answer, value,
                                                                                   grader.mode)))
    return out
