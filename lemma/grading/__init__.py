"""Math-answer grading: extraction, exact numbers, Math-Verify in isolated workers, and the paper's qwen_compat mode.

EVALUATION.md §6 is the spec. The modules, in the order an item passes through them:

* ``extraction``: which answer a response commits to (the last answer marker wins; several boxes, sentences and
  responses without a marker are read by Math-Verify's own extraction; a response cut off before any marker has no
  answer), and what a gold says (a bare gold, or a whole solution's final answer).
* ``numbers``: plain numerals compared exactly in the parent; exact rationals where Math-Verify would round.
* ``core``: Math-Verify's parse and verify (worker side).
* ``qwen``: the Qwen2.5-Math rules behind the paper's numbers (``mode="qwen_compat"``).
* ``pool``: worker processes with a soft and a hard per-item time limit.
* ``grader``: the public ``Grader`` tying these together.
* ``compare``: plain Math-Verify beside lemma's verdicts, disagreements by named rule (``python -m lemma.grade
  --compare math_verify``).

Known wrong verdicts kept from Math-Verify 0.8.0 (tests/unit/test_grading.py ``KNOWN_WRONG``, strict xfail):
``\\sqrt{1/n}`` vs ``\\frac{1}{\\sqrt{n}}`` is False (Math-Verify#64); a base subscript is dropped, so ``10_2`` equals
``10``. Policies inherited on purpose: ``[1,\\infty)`` gold vs ``x \\ge 1`` prediction is False (the reverse is True,
#25); ``x=5`` vs ``y=5`` is False (strict variables); ``\\pm 2021`` vs ``2021`` and ``32, 349`` vs ``32349`` are False;
boxes close together are one answer (Math-Verify joins them into a set), so ``\\boxed{6}, no: \\boxed{5}`` is {5, 6}.
"""

from __future__ import annotations

from lemma.answer_norm import normalize_gold
from lemma.grading.core import compare_answers
from lemma.grading.extraction import Answer, extract, extract_answer, gold_answer, is_plain_text
from lemma.grading.grader import GRADER_VERSION, MODES, Grader, Verdict, check_mode
from lemma.grading.numbers import numeric_verdict, parent_verdict
from lemma.grading.qwen import qwen_equal, qwen_extract, qwen_fast_verdict

__all__ = [
    "GRADER_VERSION",
    "MODES",
    "Answer",
    "Grader",
    "Verdict",
    "answers_equal",
    "extract",
    "extract_answer",
    "gold_answer",
    "normalize_gold",
    "numeric_verdict",
    "parent_verdict",
    "qwen_extract",
    "qwen_fast_verdict",
]


def answers_equal(pred: str, gold: str, mode: str = "math_verify") -> bool:
    """In-process equivalence of two already-extracted answers (exact numbers, then Math-Verify).

    No time limit of its own: call it on untrusted text only inside ``Grader`` (or another killable process), never
    inline in a pipeline (EVALUATION.md §3.2 "Hangs").
    """
    check_mode(mode)
    if mode == "qwen_compat":
        return qwen_equal(pred, gold)
    return compare_answers(Answer(pred, plain=is_plain_text(pred)), Answer(gold, plain=is_plain_text(gold))).correct
