"""Grader verdict table, extraction, qwen_compat differences, isolation and adversarial inputs (EVALUATION.md §6.2).

Run on every dependency change: these verdicts are what ``GRADER_VERSION`` stands for.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import pytest

from lemma.grading import (
    GRADER_VERSION,
    Grader,
    Verdict,
    answers_equal,
    extract,
    extract_answer,
    normalize_gold,
)
from lemma.grading.pool import WorkerPool

# ---------------------------------------------------------------------------------------------------------------------
# Equivalence table: (gold, prediction, expected), predictions given as bare answers (extract=False)
# ---------------------------------------------------------------------------------------------------------------------

INTEGERS_AND_DECIMALS = [
    ("20", "20", True),
    ("20", "20.0", True),
    ("20", "20.00", True),
    ("20", "021", False),
    ("18", "$18", True),
    ("18", "\\$18", True),
    ("1234", "1,234", True),
    ("1234567", "1,234,567", True),
    ("1234", "1234.0", True),
    ("1234", "12,34", False),
    ("1000000", "1 000 000", True),  # space thousands separators (fast path, like Math-Verify's plain-number regex)
    ("1000", "1{,}000", True),
    ("3000", "3,\\!000", True),
    ("-3", "-3", True),
    ("-3", "3", False),
    ("0", "0", True),
    ("0", "-0", True),
    ("-1", "-1.0", True),
    ("5", "+5", True),
    ("3.14", "3.14", True),
    ("3.14", "3.1416", False),
    ("0.5", ".5", True),
    ("0.25", "0.250", True),
    ("2.50", "2.5", True),
    ("\\$2.50", "2.50", True),
    ("7", "7.", True),
    ("100", "1e2", True),
    ("-0.4", "-0.4", True),
    ("0.042", "0.042", True),
    ("-0.4", "-2/5", True),
    ("4", "2+2", True),
    ("8", "2^3", True),
    ("2", "\\sqrt{4}", True),
    # a comma that cannot be a thousands separator is a decimal mark in plain text (Math-Verify's reading) ...
    ("1.22", "1,22", True),
    ("1,22", "1.22", True),
    ("0.111", "0,111", True),
    ("1000.99", "1000,99", True),
    ("1234.56", "1.234,56", True),
    ("12.5", "12,50 €", True),
    ("1", "1,000", False),
    ("1.22", "1,220", False),
    ("12.5", "1,25", False),
    # ... and a list too: a plain-text gold '3,5' (OlympiadBench after its $ are dropped) may be either
    ("3,5", "\\{3, 5\\}", True),
    ("3,5", "3.5", True),
    ("3,5", "35", False),
    ("1.5", "\\boxed{1,5}", False),  # inside LaTeX a comma separates items, as Math-Verify reads it
]

# The §3.2 false positives of the Qwen grader must stay False here.
NO_LENIENCY = [
    ("5", "500", False),  # x100 percent rule
    ("500", "5", False),
    ("5", "0.05", False),
    ("0.5", "50", False),
    ("10.0009", "10", False),  # relative tolerance 1e-4
    ("10", "10.0009", False),
    ("[0,9)", "(0,9)", False),  # bracket stripping
    ("(0,9)", "[0,9)", False),
    ("(a+5)(b+2)", "(+5)(b+2)", False),  # unit-word deletion of "a"
    ("7 = 11a+c", "11a+", False),  # unit-word deletion of "c"
    ("\\frac{1}{2006!}", "\\frac{1}{2004!}", False),  # fixed by the exact-rational check (Math-Verify#14)
    ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", False),
    ("10^{-20}", "10^{-21}", False),
    ("1112112_3", "1112122_3", False),
    ("32349", "32, 349", False),  # Math-Verify policy: a list is not a number
    ("2", "two", False),
]

FRACTIONS = [
    ("\\frac{1}{2}", "0.5", True),
    ("0.5", "\\frac{1}{2}", True),
    ("1.5", "\\frac{3}{2}", True),
    ("\\frac{1}{2}", "\\frac12", True),
    ("\\frac{1}{2}", "\\dfrac{1}{2}", True),
    ("\\frac{1}{2}", "\\tfrac{1}{2}", True),
    ("\\frac{1}{2}", "1/2", True),
    ("1/2", "\\frac{1}{2}", True),
    ("\\frac{1}{2}", "\\frac{2}{4}", True),
    ("\\frac{1}{2}", "\\frac{1}{3}", False),
    ("\\dfrac{9}{7}", "\\frac{9}{7}", True),  # a bare \dfrac gold only parses once boxed (Math-Verify#70)
    ("\\dfrac{9}{7}", "9/7", True),
    ("\\frac{9}{7}", "1.285714", True),  # Math-Verify rounds floats to 6 decimals
    ("\\frac{9}{7}", "1.2857", False),
    ("\\frac{1}{3}", "0.333333", True),
    ("\\frac{1}{3}", "0.33", False),
    ("-\\frac{2}{3}", "\\frac{-2}{3}", True),
    ("-\\frac{2}{3}", "\\frac{2}{3}", False),
    ("\\frac{3}{4}", "\\cfrac{3}{4}", True),
    ("2\\frac{1}{2}", "\\frac{5}{2}", True),
    ("\\frac{130}{231}", "\\frac{130}{231}", True),
    ("\\frac{1}{2006!}", "\\frac{1}{2006!}", True),
    ("\\frac{1}{2^{99}}", "2^{-99}", True),
    ("-\\frac{1}{2}", "-0.5", True),
]

ROOTS_PI_EXPRESSIONS = [
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("2\\sqrt{2}", "2\\sqrt2", True),
    ("\\sqrt{2}", "1.41421356", True),
    ("\\sqrt{2}", "1.4142", False),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", True),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", True),
    ("3\\sqrt{3}", "\\sqrt{27}", True),
    ("5\\sqrt{2}", "7.0710678", True),
    ("-\\sqrt{3}", "\\sqrt{3}", False),
    ("\\pi", "\\pi", True),
    ("2\\pi", "2 \\pi", True),
    ("\\frac{\\pi}{2}", "\\frac{1}{2}\\pi", True),
    ("\\pi", "3.14", False),
    ("2\\pi r", "2 r \\pi", True),
    ("4\\pi", "4\\pi \\text{ cm}^2", True),
    ("6+2\\sqrt{5}", "2\\sqrt{5}+6", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("x^2+2x+1", "x^2+2x", False),
    ("(a+5)(b+2)", "(b+2)(a+5)", True),
    ("a^2+b^2", "b^2+a^2", True),
    ("2x+3", "3+2x", True),
    ("\\frac{x+1}{x-1}", "\\frac{x+1}{x-1}", True),
    ("e^{2}", "e^2", True),
    ("\\sec^2(y)", "\\sec^2 y", True),  # Qwen deletes "sec" as a unit (§3.2)
    ("\\sec^2(y)", "\\tan^2(y)+1", True),
    ("\\sin x", "\\sin(x)", True),
    ("\\ln e", "1", True),
    ("\\binom{5}{2}", "10", True),
    ("120", "5!", True),
    ("2^{10}", "1024", True),
    ("2^{100}", "1267650600228229401496703205376", True),
    ("1 - \\frac{1}{e}", "1 + \\frac{1}{e}", False),
    ("1 - \\frac{1}{\\mathrm{e}}", "1 + \\frac{1}{\\mathrm{e}}", False),  # True in upstream Math-Verify (§4.2)
    ("3x + 4y + 14=0", "3*x-1*y+13=0", False),  # True upstream (#60); boxing the answer avoids the "0" extraction
    ("10-4 n", "10-4n", True),
    ("10-4 n", "-4n+10", True),
    ("-20*x", "-20x", True),
]

PERCENTS_DEGREES_UNITS_TEXT = [
    ("50\\%", "50\\%", True),
    ("50\\%", "0.5", True),
    ("\\frac{1}{4}", "25\\%", True),
    ("0.1", "10\\%", True),
    # a percent sign on one side only may be a unit ("what percent?" gold 50) or x1/100; both readings are accepted
    ("50", "50\\%", True),
    ("10\\%", "10", True),
    ("0.5", "50\\%", True),
    ("50", "0.5\\%", False),
    ("25", "25 percent", True),
    ("25\\%", "25 percent", True),
    ("30^\\circ", "30", True),
    ("30^\\circ", "30^{\\circ}", True),
    ("30", "30^\\circ", True),
    ("45^\\circ", "45", True),
    ("90^\\circ", "\\frac{\\pi}{2}", False),
    ("5", "5\\text{ cm}", True),
    ("5", "5 \\text{meters}", True),
    ("12", "12 \\text{ dollars}", True),
    ("12\\text{ cm}^2", "12", True),
    ("9", "9 \\mbox{ apples}", True),
    ("\\frac{1}{3}", "\\frac{1}{3}\\textbf{meters}", True),  # Qwen keeps \textbf{} (§3.2)
    ("\\text{Monday}", "\\text{Monday}", True),
    ("\\text{Monday}", "\\text{Tuesday}", False),
    ("\\text{east}", "\\text{east}", True),
    ("\\text{(C)}", "\\text{(C)}", True),
    ("\\text{(A)}", "\\text{(A)}", True),
    ("\\text{(A)}", "\\text{(B)}", False),
    ("\\text{(A)}", "A", True),
    ("C", "C", True),
    ("B", "C", False),
    ("\\text{yes}", "\\text{yes}", True),
    ("\\text{True}", "\\text{False}", False),
    ("\\text{odd}", "\\text{even}", False),
]

INTERVALS_RELATIONS = [
    ("(0,9)", "(0,9)", True),
    ("[0,9]", "[0, 9]", True),
    ("[2,5)", "[2,5)", True),
    ("(-\\infty,3)", "(-\\infty, 3)", True),
    ("(-\\infty,3]", "(-\\infty,3)", False),
    ("(-\\infty,-2)\\cup(3,\\infty)", "(-\\infty,-2)\\cup(3,\\infty)", True),
    ("(-\\infty,-2)\\cup(3,\\infty)", "(3,\\infty)\\cup(-\\infty,-2)", True),
    ("(-\\infty,-2)\\cup(3,\\infty)", "(-\\infty,-2]\\cup(3,\\infty)", False),
    ("\\mathbb{R}", "(-\\infty,\\infty)", True),
    ("\\infty", "\\infty", True),
    ("-\\infty", "\\infty", False),
    ("\\emptyset", "\\emptyset", True),
    ("x \\ge 1", "[1,\\infty)", True),
    ("m \\geq \\sqrt{2}", "[\\sqrt{2},\\infty)", True),
    ("[1,\\infty)", "x \\ge 1", False),  # Math-Verify asymmetry by design (#25): relation pred vs interval gold
    ("x\\in[1,2]", "[1,2]", True),
    ("x \\geq 5", "5 \\leq x", True),  # Qwen does not normalise relations (§3.2)
    ("x < 3", "x \\lt 3", True),  # Qwen deletes "lt" as a unit (§3.2)
    ("x<3", "x>3", False),
    ("x \\ge 5", "x > 5", False),
]

TUPLES_SETS_MULTI = [
    ("(3,\\frac{\\pi}{2})", "\\left(3,\\frac{\\pi}{2}\\right)", True),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", True),
    ("(2,3)", "\\left(2,3\\right)", True),
    ("(1,2)", "(2,1)", False),  # an ordered tuple is not a set
    ("(1,2)", "(1,2,3)", False),
    ("(1, -2)", "(1,-2)", True),
    ("(0,0,1)", "(0,0,1)", True),
    ("\\{1,2,3\\}", "\\{3,2,1\\}", True),
    ("\\{1,2\\}", "\\{1,2,3\\}", False),
    ("1,2,3", "3,2,1", True),
    ("1, 2", "1", False),
    ("2, -2", "\\pm 2", True),
    ("-2,2", "2,-2", True),
    ("3, 5", "5 and 3", True),
    ("\\pm 2021", "2021", False),  # Math-Verify policy (§4.2)
    ("(45,2),(-10,-9)", "(45,2),(-10,-9)", True),
    ("[3]", "[3]", True),
    ("x=1", "1", True),
    ("1", "x=1", True),
    ("k=2", "2", True),
    ("x=5", "x = 5", True),
    ("x=5", "y=5", False),  # strict mode: the variable matters
    ("y=2x+3", "y = 2x+3", True),
    ("y=2x+3", "2x+3", True),
    ("y=2x+3", "y=2x+4", False),
    ("f(x)=x^2", "x^2", True),
]

MATRICES_SCIENTIFIC_COMPLEX = [
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", True),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", True),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\4&3\\end{pmatrix}", False),
    ("\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}-1\\\\2\\end{pmatrix}", True),
    ("\\begin{pmatrix} 1/2 \\\\ 0 \\end{pmatrix}", "\\begin{pmatrix}\\frac{1}{2}\\\\0\\end{pmatrix}", True),
    ("3 \\times 10^{5}", "300000", True),
    ("3 \\times 10^{5}", "3\\times10^5", True),
    ("3 \\times 10^{5}", "3 \\times 10^{6}", False),
    ("6.02 \\times 10^{23}", "6.02\\times 10^{23}", True),
    ("1.5 \\times 10^{-3}", "0.0015", True),
    ("-5", "- 5", True),
    ("-5", "(-5)", True),
    ("1+i", "i+1", True),
    ("1+i", "1-i", False),
    ("2i", "2i", True),
    ("\\frac{7}{5} + \\frac{1}{5} i", "\\frac{7}{5}+\\frac{i}{5}", True),
    ("\\frac{7}{5}+\\frac{1}{5}i", "\\frac{7+i}{5}", True),
    ("1112122_3", "1112122_3", True),
]

EQUIVALENCE = (
    INTEGERS_AND_DECIMALS
    + NO_LENIENCY
    + FRACTIONS
    + ROOTS_PI_EXPRESSIONS
    + PERCENTS_DEGREES_UNITS_TEXT
    + INTERVALS_RELATIONS
    + TUPLES_SETS_MULTI
    + MATRICES_SCIENTIFIC_COMPLEX
)

# Wrong verdicts of the pinned Math-Verify that we do not patch (no clean fix without re-implementing its parser).
# strict xfail: the day an upgrade fixes one, the test fails and the table must move it to EQUIVALENCE.
KNOWN_WRONG = [
    # sqrt(1/n) = 1/sqrt(n) for n > 0, but sympy cannot simplify without positivity (Math-Verify#64)
    pytest.param("\\frac{1}{\\sqrt{n}}", "\\sqrt{1/n}", True, id="sqrt-of-reciprocal"),
    # latex2sympy drops a base subscript: 10_2 parses as the integer 10
    pytest.param("10", "10_2", False, id="base-subscript-dropped"),
]


def test_table_is_big_enough() -> None:
    assert len(EQUIVALENCE) >= 150


@pytest.fixture(scope="module")
def grader() -> Grader:
    with Grader(timeout_s=10, workers=2) as g:
        yield g


@pytest.fixture(scope="module")
def table_verdicts(grader: Grader) -> dict[tuple[str, str], Verdict]:
    """All table rows graded in one batch (the pool works them in parallel)."""
    golds = [g for g, _, _ in EQUIVALENCE]
    preds = [p for _, p, _ in EQUIVALENCE]
    return dict(zip(zip(golds, preds, strict=True), grader.grade(preds, golds, extract=False), strict=True))


@pytest.mark.parametrize(("gold", "pred", "expected"), EQUIVALENCE)
def test_equivalence_table(
    table_verdicts: dict[tuple[str, str], Verdict], gold: str, pred: str, expected: bool
) -> None:
    verdict = table_verdicts[(gold, pred)]
    assert not verdict.timed_out and verdict.error is None
    assert verdict.correct is expected


@pytest.mark.parametrize(("gold", "pred", "expected"), KNOWN_WRONG)
@pytest.mark.xfail(strict=True, reason="known Math-Verify 0.8.0 wrong verdict, documented in lemma.grading")
def test_known_wrong_verdicts(gold: str, pred: str, expected: bool) -> None:
    assert answers_equal(pred, gold) is expected


def test_in_process_answers_equal_agrees_with_pool(table_verdicts: dict[tuple[str, str], Verdict]) -> None:
    """The table through ``answers_equal`` (no pool) gives the same verdicts: the pool adds isolation, not rules."""
    rows = INTEGERS_AND_DECIMALS + NO_LENIENCY + FRACTIONS[:8]
    for gold, pred, _ in rows:
        assert answers_equal(pred, gold) is table_verdicts[(gold, pred)].correct, (gold, pred)


# ---------------------------------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------------------------------

EXTRACTION = [
    ("so the total is \\boxed{42}.", "42"),
    ("\\boxed{1} then later \\boxed{2}", "2"),  # too far apart to be one answer in two parts
    ("\\boxed{1}, so again \\boxed{1}", "1"),  # 10+ characters apart: Math-Verify joins them only when they differ
    ("\\boxed{\\frac{1}{3}}, no. Wait, so \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # a reflection: not one answer
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\boxed{\\boxed{5}}", "5"),
    ("\\fbox{7}", "7"),
    ("\\boxed 5", "5"),
    ("The answer is 18.", "18"),
    ("The answer is: 18", "18"),
    ("the answer is 18 dollars.", "18"),
    ("The answer is \\$18 per day", "\\$18"),
    ("The answer is: $\\frac{3}{4}$.", "\\frac{3}{4}"),
    ("The answer is:\n\n$$\\frac{3}{4}$$\n", "\\frac{3}{4}"),
    ("The answer is\n\\[\n\\frac{3}{4}\n\\]", "\\frac{3}{4}"),
    ("The answer is 3 pi", "3 pi"),
    ("The answer is 2, 3, and 5.", "2, 3, and 5"),
    ("The answer is $1,234$.", "1,234"),
    ("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}"),
    ("The final answer is 1.5.", "1.5"),
    ("the final answer is: 42", "42"),
    ("The answer is: \\boxed{5}", "5"),
    ("\\boxed{5}. The answer is 6.", "6"),
    # reflective trajectory: the prefix commits to a wrong boxed answer, the tail to the right one (METHOD.md §3.9)
    ("2+3 = \\boxed{6}.\n\nWait a second, I added wrong. 2+3 = 5.\nThe answer is: 5", "5"),
    ("\\boxed{\\frac{1}{3}} Hmm, let me re-check... so in fact \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    # a remark after the boxed answer is not an answer (MATH test solution, "The final answer is positive, because ...")
    ("=\\boxed{\\frac{130}{231}}.\\]The final answer is positive, because two of the three numbers are negative.",
     "\\frac{130}{231}"),
    ("**73**", "73"),
    ("The answer is **73**.", "73"),
    ("\\frac{3}{4}", "\\frac{3}{4}"),
    ("x = 5", "x = 5"),
    ("(1, 2)", "(1, 2)"),
    ("Monday", "Monday"),
    ("", None),
    ("   ", None),
    ("\\boxed{" * 50, None),
    # several boxes that form one answer: joined as Math-Verify joins them (a set); a reflection separates attempts
    ("\\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}", "-2,1"),
    ("Solutions: $\\boxed{(1, 2)}$, $\\boxed{(2, 1)}$.", "(1, 2),(2, 1)"),
    ("\\boxed{1}, \\boxed{1}", "1,1"),
    # reasoning blocks: the answer after </think>; nothing after it: the block's own answer
    ("<think>\nmaybe \\boxed{6}? No.\n</think>\nThe answer is 5.", "5"),
    ("<think>So 2 + 3 = 5. The answer is 5.</think>", "5"),
    # "Answer:" is a marker as a label, not inside prose; a word-only remark yields to an earlier answer
    ("Answer: 12", "12"),
    ("**Answer:** 12 apples", "12"),
    ("Thus $\\boxed{44}$. We may check our answer: $17 \\cdot 44 = 748$.", "44"),
    ("So \\boxed{5}. The answer is correct.", "5"),
    ("or $\\boxed{20}$ percent.", "20\\%"),
    ("The answer is 1,22", "1,22"),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACTION)
def test_extract_answer(text: str, expected: str | None) -> None:
    answer = extract(text)
    assert answer.text == expected and not answer.span
    assert extract_answer(text) == expected


# No marker, or an answer in a sentence: Math-Verify's own extraction reads the span (the answer it finds, last)
SPANS = [
    ("We get 3 apples and then 4 more, total 7 apples.", "We get 3 apples and then 4 more, total 7 apples.", "7"),
    ("I think 12 then the result is $\\frac{1}{2}$.", "I think 12 then the result is $\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("Final Answer: The largest $n$ is 34.", "Final Answer: The largest $n$ is 34", "34"),
    ("no numbers here at all, sorry folks", "no numbers here at all, sorry folks", None),
]


@pytest.mark.parametrize(("text", "span", "answer"), SPANS)
def test_spans_are_read_by_math_verify(grader: Grader, text: str, span: str, answer: str | None) -> None:
    found = extract(text)
    assert found.span and found.text == span
    assert grader.grade([text], ["0"])[0].extracted == answer


def test_truncated_responses_have_no_answer_unless_a_marker_came_first() -> None:
    cut = "Omar buys 3 bags with 4 apples each. Then he gives away 5 *"
    assert extract(cut).truncated and extract(cut).text is None  # flag unknown: stops mid-expression
    assert extract(cut, truncated=True).truncated
    found = extract(cut, truncated=False)  # the generation stopped on its own: Math-Verify reads the text
    assert not found.truncated and found.span and found.text == cut
    assert extract("First 2 + 3 = 5. Then", truncated=True).truncated
    assert not extract("First 2 + 3 = 5. Then").truncated  # flag unknown, ends on a word: not judged cut off
    assert extract("The answer is 5.\nLet me check: 5 *", truncated=True).text == "5"
    assert extract("<think>\n6 * 7 = 42, so", truncated=True).truncated


def test_generations_carry_their_truncated_flag(grader: Grader) -> None:
    """Generation-like objects (``.text``, ``.truncated``) keep their flag through any chunking a wrapper does."""

    class Generated(NamedTuple):
        text: str
        truncated: bool

    text = "Then he gives away 5"
    verdicts = grader.grade([Generated(text, True), Generated(text, False), text], ["5"] * 3)
    assert [v.correct for v in verdicts] == [False, True, True]
    assert [v.truncated for v in verdicts] == [True, False, False]
    assert [v.extracted for v in verdicts] == [None, "5", "5"]
    with pytest.raises(ValueError):
        grader.grade([text], ["5"], truncated=[True, False])


def test_reflective_trajectory_graded_on_final_answer(grader: Grader) -> None:
    text = "So $x = \\boxed{12}$.\n\nWait, let me reconsider the second step.\nIt gives 15.\nThe answer is: 15"
    [verdict] = grader.grade([text], ["15"])
    assert verdict.extracted == "15" and verdict.correct


def test_full_responses_graded_with_extraction(grader: Grader) -> None:
    preds = [
        "Janet sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18.\nThe answer is: 18",
        "Therefore the answer is $\\boxed{\\dfrac{9}{7}}$.",
        "The answer is **73**.",
        "**Final answer:** 1,234",
        "So the interval is $\\boxed{(0,9)}$.",
    ]
    golds = ["18", "\\frac{9}{7}", "73", "1234", "[0,9)"]
    assert [v.correct for v in grader.grade(preds, golds)] == [True, True, True, True, False]


# ---------------------------------------------------------------------------------------------------------------------
# qwen_compat: the documented differences (EVALUATION.md §3.2, §6.7)
# ---------------------------------------------------------------------------------------------------------------------

QWEN_DIFFERENCES = [
    # (gold, prediction, math_verify verdict, qwen_compat verdict)
    ("5", "500", False, True),
    ("500", "5", False, True),
    ("0.5", "50", False, True),
    ("10.0009", "10", False, True),
    ("[0,9)", "(0,9)", False, True),
    ("(a+5)(b+2)", "(+5)(b+2)", False, True),
    ("7 = 11a+c", "11a+", False, True),
    ("\\frac{1}{2006!}", "\\frac{1}{2004!}", False, True),
    ("1112112_3", "1112122_3", False, True),
    ("10", "ten", False, True),
    ("\\sec^2(y)", "\\tan^2(y)+1", True, False),  # "sec" deleted as a unit
    ("x<3", "x \\lt 3", True, False),  # "lt" deleted as a unit
]

QWEN_AGREES = [
    ("\\frac{1}{2}", "0.5", True),
    ("50\\%", "0.5", True),
    ("(3,\\frac{\\pi}{2})", "\\left(3,\\frac{\\pi}{2}\\right)", True),
    ("\\text{Monday}", "\\text{Monday}", True),
    ("\\text{east}", "\\text{east}", True),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", True),
    ("3", "x=3", True),
    ("18", "18", True),
    ("2", "3", False),
    ("\\frac{1}{2}", "\\frac{1}{3}", False),
]


@pytest.fixture(scope="module")
def qwen_grader() -> Grader:
    with Grader(mode="qwen_compat", timeout_s=10, workers=2) as g:
        yield g


def test_qwen_compat_differences(grader: Grader, qwen_grader: Grader) -> None:
    golds = [g for g, _, _, _ in QWEN_DIFFERENCES]
    preds = [p for _, p, _, _ in QWEN_DIFFERENCES]
    default = [v.correct for v in grader.grade(preds, golds, extract=False)]
    qwen = [v.correct for v in qwen_grader.grade(preds, golds, extract=False)]
    assert default == [d for _, _, d, _ in QWEN_DIFFERENCES]
    assert qwen == [q for _, _, _, q in QWEN_DIFFERENCES]


@pytest.mark.parametrize(("gold", "pred", "expected"), QWEN_AGREES)
def test_qwen_compat_agrees_elsewhere(gold: str, pred: str, expected: bool) -> None:
    assert answers_equal(pred, gold, mode="qwen_compat") is expected
    assert answers_equal(pred, gold) is expected


def test_qwen_compat_uses_qwen_extraction_order(qwen_grader: Grader, grader: Grader) -> None:
    """Qwen prefers the last boxed over a later "The answer is" (METHOD.md §3.9); the default grader does not."""
    text = "First try: \\boxed{6}.\nWait, that is wrong.\nThe answer is: 5"
    assert qwen_grader.grade([text], ["5"])[0].extracted == "6"
    assert grader.grade([text], ["5"])[0].extracted == "5"


# ---------------------------------------------------------------------------------------------------------------------
# Isolation, time limits, adversarial inputs
# ---------------------------------------------------------------------------------------------------------------------

HANGS = ["9^{9^{9^{9}}}", "3^{100000000}", "10^{10^{10}}", "(10^{100000})!", "5^{5^{5^{5^5}}}"]


def test_code_injection_creates_no_file(tmp_path: Path, grader: Grader) -> None:
    """Through every extraction path (a box, a phrase, several boxes, a sentence span, no marker, a reasoning block),
    through a gold that is a solution, and through --compare's plain Math-Verify: nothing runs."""
    from lemma.grading.compare import compare_with_math_verify

    target = tmp_path / "pwned"
    touch = f"__import__('pathlib').Path('{target}').touch()"
    preds = [
        f"\\boxed{{{touch}}}",
        f"The answer is __import__('os').system('touch {target}')",
        f"\\boxed{{exec(\"open('{target}', 'w').write('x')\")}}",
        f"\\boxed{{eval(\"{touch}\")}}",
        f"\\boxed{{{touch}}}, \\boxed{{exec('import os')}}",
        f"Final Answer: The result is {touch}.",
        f"We simply evaluate {touch} to get 41",
        f"<think>{touch}</think>\nThe answer is {touch}",
    ]
    golds = ["42"] * (len(preds) - 1) + [f"Clearly $\\boxed{{{touch}}}$ is the answer."]
    verdicts = grader.grade(preds, golds)
    assert [v.correct for v in verdicts] == [False] * len(preds)
    assert not compare_with_math_verify(grader, preds[:-1], golds[:-1], verdicts[:-1])[0].correct
    with Grader(mode="qwen_compat", timeout_s=10, workers=1) as qwen:
        verdicts = qwen.grade(preds[:-1], golds[:-1])
        assert [v.correct for v in verdicts] == [False] * (len(preds) - 1)
    assert not target.exists()


def test_hang_inputs_time_out_and_are_counted() -> None:
    with Grader(timeout_s=2, workers=2) as g:
        start = time.monotonic()
        verdicts = g.grade([f"\\boxed{{{h}}}" for h in HANGS], ["1"] * len(HANGS))
        elapsed = time.monotonic() - start
        assert [v.correct for v in verdicts] == [False] * len(HANGS)
        timed_out = sum(v.timed_out for v in verdicts)
        assert g.timeouts == timed_out >= 3
        # 5 items on 2 workers at <= 2 s (+1 s grace) each, plus worker start-ups: generous, but far below a hang
        assert elapsed < 10 * len(HANGS)
        # the pool still grades after the timeouts
        assert g.grade(["\\boxed{\\frac{1}{2}}"], ["0.5"])[0].correct


def test_hang_inputs_through_every_path_finish_in_bounded_time() -> None:
    """A sentence span, several boxes, a reasoning block, a gold that is a solution, and --compare's plain
    Math-Verify: each hang ends at the limit (a timeout scores False), and the grader keeps working."""
    from lemma.grading.compare import compare_with_math_verify

    preds = [f"So the total is ${HANGS[0]}$.", f"\\boxed{{1}}, \\boxed{{{HANGS[2]}}}",
             f"<think>...</think> Answer: ${HANGS[1]}$", "\\boxed{1}"]
    golds = ["1", "1, 2", "1", f"Hence $x = \\boxed{{{HANGS[0]}}}$."]
    with Grader(timeout_s=2, workers=2) as g:
        start = time.monotonic()
        verdicts = g.grade(preds, golds)
        compared = compare_with_math_verify(g, preds, golds, verdicts)
        elapsed = time.monotonic() - start
        assert [v.correct for v in verdicts] == [False] * len(preds)
        assert sum(v.timed_out for v in verdicts) >= 2 and all(v.error is None for v in verdicts)
        assert all(c.correct in (None, False) for c in compared)
        assert elapsed < 12 * 2 * len(preds)  # 2 passes of 4 items at <= 3 s, plus start-ups: far below a hang
        assert g.grade(["\\boxed{(1, 2)}, \\boxed{(2, 1)}"], ["$(2, 1), (1, 2)$"])[0].correct


def _task(pred: str, gold: str) -> tuple[object, ...]:
    return ("grade", "math_verify", (pred, False, False), (gold, False, False))


def test_hard_kill_when_the_soft_timer_cannot_fire() -> None:
    """A worker stuck where no alarm reaches (soft limit beyond the hard one here) is killed and replaced."""
    pool = WorkerPool(soft_s=60.0, hard_s=2.0)
    try:
        pool.grow(1)
        start = time.monotonic()
        [result] = pool.run([_task("9^{9^{9^{9}}}", "1")])
        assert result == ("timeout", None)
        assert time.monotonic() - start < 30
        assert pool.run([_task("\\frac{1}{2}", "0.5")]) == [("ok", (True, "\\frac{1}{2}", "exact numbers"))]
    finally:
        pool.close()


ADVERSARIAL = {
    "100kB prose then boxed": ("x = 1 + 1. " * 10_000 + "\\boxed{2}", "2", True),
    "100kB of math envs": ("$\\frac{1}{2}$ " * 8_000, "\\frac{1}{2}", True),
    "15k unclosed boxed": ("\\boxed{" * 15_000, "1", False),
    "unbalanced braces": ("The answer is \\frac{1}{2}}}}", "\\frac{1}{3}", False),
    "unbalanced boxed": ("\\boxed{\\frac{1}{2", "\\frac{1}{2}", False),
    "binary junk": (bytes(range(256)).decode("latin-1") * 20, "1", False),
    "nul bytes": ("\x00\x01\x02 \\boxed{\x00}", "0", False),
    "deep parentheses": ("\\boxed{" + "(" * 3000 + "1" + ")" * 3000 + "}", "2", False),
    "deep fractions": ("\\boxed{" + "\\frac{1}{" * 500 + "2" + "}" * 500 + "}", "1", False),
    "100k digits": ("\\boxed{" + "9" * 100_000 + "}", "9", False),
    "huge matrix": (
        "\\boxed{\\begin{pmatrix}" + "\\\\".join(["&".join(["1"] * 300)] * 50) + "\\end{pmatrix}}",
        "1",
        False,
    ),
    "lone surrogate-ish text": ("The answer is \udcff", "1", False),
}


PARENT_SIDE_TORTURE = [
    "\\[" * 50_000,
    "\\(" * 50_000,
    "$" * 100_000,
    "final answer is $" * 6_000,
    "{" * 100_000,
    "\\boxed{" * 15_000,
    "\\boxed " * 14_000,
    "The answer is " * 7_000,
    "1," * 50_000,
    "1." * 50_000,
    "9" * 100_000,
    "1 dollars " * 10_000,
    "a " * 50_000 + "$" + "b" * 50_000,
    "111 " * 25_000,
    "1.234 " * 16_000 + ",5",
    "\\boxed{1}, " * 8_000,
    "\\boxed{1} Wait, " * 6_000,
    "Answer: \n" * 10_000,
    "</think>" * 12_000,
    "The final answer for the part " * 3_000,
]


@pytest.mark.parametrize("text", PARENT_SIDE_TORTURE, ids=lambda t: repr(t[:12]))
def test_parent_side_extraction_is_linear(text: str) -> None:
    """Extraction and the fast paths run in the parent without a time limit, so they must be linear on any text."""
    from lemma.answer_norm import final_boxed
    from lemma.grading import gold_answer, numeric_verdict, qwen_extract, qwen_fast_verdict
    from lemma.grading.numbers import european_to_dot, has_decimal_comma, parent_rule_readings

    start = time.monotonic()
    extract_answer(text)
    extract(text, truncated=True)
    extract("<think>" + text + "</think>" + text[:1000])
    gold_answer(text)
    final_boxed(text)
    qwen_extract(text)
    numeric_verdict(text, "1")
    qwen_fast_verdict(text, "1")
    parent_rule_readings(text[:5000], True, "1,5", True)
    european_to_dot(text)
    has_decimal_comma(text)
    assert time.monotonic() - start < 5


def test_adversarial_inputs_never_crash() -> None:
    """One batch, as a pipeline would send it: every item ends within its limit, none crashes the grader."""
    names = list(ADVERSARIAL)
    with Grader(timeout_s=3, workers=2) as g:
        start = time.monotonic()
        verdicts = g.grade([ADVERSARIAL[n][0] for n in names], [ADVERSARIAL[n][1] for n in names])
        elapsed = time.monotonic() - start
        for name, verdict in zip(names, verdicts, strict=True):
            assert verdict.correct is ADVERSARIAL[name][2], name
            assert verdict.error is None, (name, verdict.error)
        assert g.timeouts == sum(v.timed_out for v in verdicts) >= 1  # the deep/huge ones hit the limit, counted
        # at most 3 s (+1 s grace) per item; 2 workers in parallel; plus start-up
        assert elapsed < 10 + 4 * sum(v.timed_out for v in verdicts)


# ---------------------------------------------------------------------------------------------------------------------
# Grader API and cost
# ---------------------------------------------------------------------------------------------------------------------


def test_numeric_pairs_never_start_a_worker() -> None:
    g = Grader(workers=4)
    start = time.monotonic()
    verdicts = g.grade(["The answer is 20"] * 30 + ["21"] * 30, ["20"] * 60)
    assert time.monotonic() - start < 0.5
    assert [v.correct for v in verdicts] == [True] * 30 + [False] * 30
    assert g.grade(["So \\boxed{\\frac{1}{2}}."], ["\\frac{1}{2}"])[0].correct  # identical text: no sympy needed
    assert g._pool is None
    g.close()


def test_thousand_numeric_pairs_are_fast(grader: Grader) -> None:
    grader.grade(["x+1", "x+2"], ["1+x", "2+x"], extract=False)  # warm pool (needs Math-Verify)
    preds = [f"Step one.\nStep two.\nThe answer is: {i % 97}" for i in range(1000)]
    golds = [str(i % 89) for i in range(1000)]
    start = time.monotonic()
    verdicts = grader.grade(preds, golds)
    assert time.monotonic() - start < 0.5
    assert sum(v.correct for v in verdicts) == sum(i % 97 == i % 89 for i in range(1000))


def test_equal_answers_for_voting(grader: Grader) -> None:
    a = ["\\frac{1}{2}", "0.5", "(1,2)", "500", "x+1"]
    b = ["0.5", "\\dfrac{2}{4}", "(2,1)", "5", "1+x"]
    assert grader.equal_answers(a, b) == [True, True, False, False, True]


def test_verdict_fields_and_none_inputs(grader: Grader) -> None:
    verdicts = grader.grade(["", "The answer is 3", "no answer"], ["3", "", "3"])
    assert verdicts[0] == Verdict(extracted=None, correct=False)
    assert verdicts[1].extracted == "3" and not verdicts[1].correct
    assert not verdicts[2].correct


def test_argument_checks() -> None:
    with pytest.raises(ValueError):
        Grader(mode="lenient")
    with pytest.raises(ValueError):
        Grader(timeout_s=0)
    with pytest.raises(ValueError):
        Grader().grade(["1"], ["1", "2"])
    with pytest.raises(ValueError):
        answers_equal("1", "1", mode="lenient")


def test_close_then_reuse() -> None:
    g = Grader(timeout_s=5, workers=1)
    assert g.grade(["\\boxed{x+1}"], ["1+x"])[0].correct
    g.close()
    assert g._pool is None
    assert g.grade(["\\boxed{x+1}"], ["1+x"])[0].correct
    g.close()


def test_grader_version_names_math_verify() -> None:
    assert GRADER_VERSION.startswith("lemma-grader/") and "math-verify==0.8.0" in GRADER_VERSION


# ---------------------------------------------------------------------------------------------------------------------
# Gold normalisation (EVALUATION.md §1, §6.2)
# ---------------------------------------------------------------------------------------------------------------------

GOLDS = [
    ("Janet sells 9 eggs.\n#### 1,234", "gsm8k", "1234"),
    ("so $x=\\boxed{\\frac{1}{2}}$. Substituting into the second equation gives \\boxed{\\dfrac{9}{7}}.", "math",
     "\\dfrac{9}{7}"),
    ("so the solutions are $\\boxed{-2}$ and $\\boxed{1}$.", "math", "-2,1"),  # one answer in two boxes
    ("thus \\boxed{\\frac{7}{5} + \\frac{1}{5} i.}", "math", "\\frac{7}{5} + \\frac{1}{5} i"),
    ("\\boxed{6.5 \\mathrm{~m}}", "minerva_math", "6.5 \\mathrm{~m}"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "math500", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("9 (apples)", "asdiv", "9"),
    ("39 (sets of masks)", "asdiv", "39"),
    ("Richard's recipe", "asdiv", "Richard's recipe"),
    (43.0, "mawps", "43"),
    ("43.0", "svamp", "43"),
    (2.5, "svamp", "2.5"),
    ("[3]", "deepmind_math", "[3]"),
    ("-20*x", "deepmind_math", "-20*x"),
    ("$10-4 n$", "college_math", "10-4 n"),
    ("$\\{x|-2\\leq x < 1\\}$", "gaokao2023en", "\\{x|-2\\leq x < 1\\}"),
    (["$\\frac{1}{2 n+2}$", "2"], "olympiadbench", "\\frac{1}{2 n+2}"),
    ("['2']", "olympiadbench", "2"),
    ("17", "arith", "17"),
    (" x ", "plain", "x"),
]


@pytest.mark.parametrize(("raw", "dataset", "expected"), GOLDS)
def test_normalize_gold(raw: object, dataset: str, expected: str) -> None:
    assert normalize_gold(raw, dataset) == expected  # type: ignore[arg-type]


def test_normalize_gold_rejects_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        normalize_gold("1", "gsm9k")
