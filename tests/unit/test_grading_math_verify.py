"""lemma's grader against plain Math-Verify 0.8.0 on full responses, in the styles of MATH, OlympiadBench and GSM8K.

"Plain Math-Verify" is what a new user runs: ``verify(parse(gold), parse(response))``, default extraction (LaTeX plus
expressions), default precision. Each case is (gold, response, expected verdict, rule, truncated flag). ``rule`` is
None when plain Math-Verify gets the case right, so lemma must agree with it; otherwise it names the rule that makes
lemma differ on purpose, and ``python -m lemma.grade --compare math_verify`` must put the disagreement down to it.
Golds are written as a user passes them to Math-Verify (``$...$`` around LaTeX); bare LaTeX golds are lemma's
"gold as an answer" rule.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import NamedTuple

import pytest

from lemma.grading import Grader, Verdict
from lemma.grading.compare import (GOLD_AS_ANSWER, RULES, WHOLE_ANSWER, MathVerifyVerdict, classify,
                                   compare_with_math_verify)
from lemma.grading.extraction import LAST_ANSWER_WINS, SEVERAL_BOXES, TRUNCATED, Answer
from lemma.grading.numbers import DECIMAL_COMMA, EXACT_NUMBERS, IDENTICAL, PERCENT_AS_UNIT


class Case(NamedTuple):
    gold: str
    response: str
    expected: bool
    rule: str | None = None  # None: plain Math-Verify is right too
    truncated: bool | None = None  # the generation's flag (None: unknown)


LAST, TRUNC, EXACT, PCT, GOLD = LAST_ANSWER_WINS, TRUNCATED, EXACT_NUMBERS, PERCENT_AS_UNIT, GOLD_AS_ANSWER
BOXES, COMMA, WHOLE = SEVERAL_BOXES, DECIMAL_COMMA, WHOLE_ANSWER

# Answers in several parts: each solution or coordinate boxed on its own (joined into one set, as Math-Verify joins
# them), against golds written as sets, pair lists or x_1 = ..., x_2 = ...; false twins give one part, a wrong part,
# too many.
MULTI_PART = [
    Case("$(1, 2), (2, 1)$",
         "Checking both orderings, the solutions are $\\boxed{(1, 2)}$ and $\\boxed{(2, 1)}$.", True),
    Case("$(2, 1), (1, 2)$", "Hence the pairs are \\boxed{(1, 2)}, \\boxed{(2, 1)}.", True),
    Case("$(3,4),(4,3),(-3,-4),(-4,-3)$",
         "All integer solutions are:\n\n\\[\n\\boxed{(3, 4)}, \\boxed{(4, 3)}, \\boxed{(-3, -4)}, \\boxed{(-4, "
         "-3)}\n\\]", True),
    Case("$k = 12, n = 5$", "$$\\boxed{k = 12} \\quad\\text{and}\\quad \\boxed{n = 5}$$", True),
    Case("$\\{1, 4, 9\\}$", "The possible values are $\\boxed{1}$, $\\boxed{4}$, and $\\boxed{9}$.", True, BOXES),
    Case("$1, 4, 9$", "\\boxed{1}, \\boxed{4}, \\boxed{9}", True),
    Case("$x_1 = 3, x_2 = -1$",
         "Factoring, $(x-3)(x+1)=0$, so the roots are $x = \\boxed{3}$ and $x = \\boxed{-1}$.", True),
    Case("$-2, 1$", "Therefore $n = \\boxed{-2}$ or $n = \\boxed{1}$.", True),
    Case("$2, 3$", "The two primes are \\boxed{2} \\text{ and } \\boxed{3}.", True),
    Case("$\\frac{1}{2}, 2$", "So $t=\\boxed{\\frac{1}{2}}$ and $t=\\boxed{2}$.", True),
    Case("$(0, 0), (1, 1)$", "The curves meet at $\\boxed{(0,0)}$ and $\\boxed{(1,1)}$.", True),
    Case("$3, 5, 7$", "Hence $p \\in \\{3,5,7\\}$, that is, $\\boxed{3}, \\boxed{5}, \\boxed{7}$.", True),
    Case("$x = 2, y = -3$", "Substituting back, we find $\\boxed{x = 2}$ and $\\boxed{y = -3}$.", True),
    Case("$1, -1, 2$", "The zeros of $p$ are \\boxed{1}, \\boxed{-1}, \\boxed{2}.", True),
    Case("$\\{-3, 3\\}$", "Thus $x = \\boxed{-3}$ or $x = \\boxed{3}$.", True),
    Case("$a = 3, b = 4$", "Comparing coefficients gives \\(a = \\boxed{3}\\) and \\(b = \\boxed{4}\\).", True),
    Case("$\\frac{\\pi}{6}, \\frac{5\\pi}{6}$",
         "In $[0, 2\\pi)$ the solutions are $\\boxed{\\frac{\\pi}{6}}$ and $\\boxed{\\frac{5\\pi}{6}}$.", True),
    Case("$y_1 = 2x + 1, y_2 = -x + 4$", "So \\( y_1 = \\boxed{2x + 1} \\) and \\( y_2 = \\boxed{-x + 4} \\).", True),
    Case("$(2, 2), (6, 2)$", "$$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$$", True),
    Case("$1, 2, 3$", "\\boxed{1} and \\boxed{2} and \\boxed{3}", True),
    Case("$\\frac{-1 + \\sqrt{5}}{2}, \\frac{-1 - \\sqrt{5}}{2}$",
         "By the quadratic formula, $x=\\boxed{\\frac{-1+\\sqrt{5}}{2}}$ or "
         "$x=\\boxed{\\frac{-1-\\sqrt{5}}{2}}$.", True),
    Case("$(1, 2), (2, 1)$", "The only solution is $\\boxed{(1, 2)}$.", False),
    Case("$(1, 2), (2, 1)$", "Hence the pairs are \\boxed{(1, 2)}, \\boxed{(2, 3)}.", False),
    Case("$1, 4, 9$", "The possible values are $\\boxed{1}$ and $\\boxed{4}$.", False),
    Case("2", "So the candidates are \\boxed{2}, \\boxed{3}.", False),
    Case("$k = 12, n = 5$", "$$\\boxed{k = 12} \\quad\\text{and}\\quad \\boxed{n = 6}$$", False),
    Case("$-2, 1$", "Therefore $n = \\boxed{-2}$.", False),
    Case("$x_1 = 3, x_2 = -1$", "The roots are $x = \\boxed{3}$ and $x = \\boxed{1}$.", False),
    Case("$3, 5, 7$", "Hence $\\boxed{3}, \\boxed{5}, \\boxed{7}, \\boxed{11}$.", False),
    Case("$2, -\\frac{1}{3}$", "Hence the roots are $x=\\boxed{2}$ and $x=\\boxed{-\\frac{1}{3}}$.", True),
    Case("$\\pm 1$", "So $a = \\boxed{1}$ or $a = \\boxed{-1}$.", True),
    Case("$x_1 = 1 + \\sqrt{2}, x_2 = 1 - \\sqrt{2}$",
         "$x = \\boxed{1 + \\sqrt{2}}$ and $x = \\boxed{1 - \\sqrt{2}}$", True),
    Case("$x_1 = 1 + \\sqrt{2}, x_2 = 1 - \\sqrt{2}$",
         "$x = \\boxed{1 + \\sqrt{2}}$ and $x = \\boxed{1 + \\sqrt{3}}$", False),
    Case("$(1, 1, 1), (2, 2, 2)$", "The triples are $\\boxed{(1,1,1)}$ and $\\boxed{(2,2,2)}$.", True),
    Case("$(1, 1, 1), (2, 2, 2)$", "The only triple is $\\boxed{(1,1,1)}$.", False),
    Case("$\\frac{25}{13}$", "So $AF = \\boxed{\\frac{25}{13}} = \\boxed{1\\frac{12}{13}}$ units.", True),
    Case("$11 + x$", "This yields $\\boxed{x+11}$ or $\\boxed{11+x}$.", True),
    Case("11+x", "This yields $\\boxed{x+11}$ or $\\boxed{11+x}$.", True, GOLD),
    Case("$11 + x$", "This yields $\\boxed{x+11}$ or $\\boxed{x+12}$.", False),
]

# Decimal commas: a comma that cannot be a thousands separator is a decimal mark in plain text ('1,22', '12,50 €',
# European '1.234,56'); false twins: '1,000' is a thousand, '1,220' too, digits swapped.
DECIMAL_COMMAS = [
    Case("1.22", "The answer is 1,22", True),
    Case("1,22", "The answer is 1.22.", True),
    Case("2.5", "Le résultat est 2,5.", True),
    Case("12.5", "Each ticket costs €12,50.", True),
    Case("3.75", "So she pays 3,75 € in total.", True),
    Case("0.111", "The probability is 0,111", True),
    Case("1000.99", "The total is 1000,99 dollars.", True),
    Case("0.75", "The answer is: 0,75", True),
    Case("\\frac{3}{4}", "The answer is 0,75", True),
    Case("1,5", "The answer is $\\frac{3}{2}$.", True),
    Case("12.5", "Janet keeps half of the 25 apples: 25 / 2 = 12,5 apples.\nThe answer is: 12,5", True),
    Case("4.2", "Die Antwort ist 4,2.", True),
    Case("7.5", "Maria runs 2,5 km three times, so she runs 7,5 km.", True),
    Case("0.25", "Final answer: 0,25", True),
    Case("1000", "The answer is 1,000", True),
    Case("1234567", "The answer is 1,234,567", True),
    Case("18.6", "Il reste donc 18,6 litres dans le réservoir.", True),
    Case("0.05", "The interest rate is 0,05 per year.", True),
    Case("1", "The answer is 1,000", False),
    Case("1", "The total comes to 1,000 dollars.", False),
    Case("1.22", "The answer is 1,220", False),
    Case("12.5", "The answer is 1,25", False),
    Case("2.74", "It costs 2,47 €.", False),
    Case("1.5", "The answer is 15", False),
    Case("0.111", "The probability is 0,11", False),
    Case("3.75", "So she pays 37,5 € in total.", False),
    Case("1234.56", "Le total est de 1.234,56 €.", True, COMMA),
    Case("1234.56", "The answer is 1.234,56", True, COMMA),
    Case("1234.56", "Le total est de 1 234,56 euros.", True, COMMA),
    Case("1234.56", "Le total est de 1.234,65 €.", False),
    Case("0.5", "Die Wahrscheinlichkeit beträgt 0,5.", True),
    Case("0.5", "Die Wahrscheinlichkeit beträgt 0,05.", False),
]

# Answers stated in a sentence, no box: "Final Answer: The largest $k$ is 27.", "... so the volume is 120.", an inline
# 2/3; false twins: a sentence that mentions a number before its answer, or states another one.
SENTENCES = [
    Case("27", "Final Answer: The largest $k$ is 27.", True),
    Case("120", "The length is 5, the width is 6 and the height is 4, so the volume is 120.", True),
    Case("$\\frac{2}{3}$",
         "Solving $P = \\frac{1}{2} + \\frac{1}{4}P$ gives $\\frac{3}{4}P = \\frac{1}{2}$. Therefore the "
         "probability that Alice wins is 2/3.", True),
    Case("18", "She sells 16 - 3 - 4 = 9 eggs at $2 each, so Janet makes $18 every day at the farmers' market.", True),
    Case("5", "Thus, there are 5 ways to arrange the books.", True),
    Case("$\\frac{7}{12}$", "So the fraction of the pizza left is $\\frac{7}{12}$.", True),
    Case("42", "Final answer: 42 students.", True),
    Case("$3\\sqrt{2}$", "Hence the distance between the points is $3\\sqrt{2}$.", True),
    Case("$\\frac{1}{4}$", "Therefore the required probability equals 1/4.", True),
    Case("24", "So, the perimeter of the rectangle is 24 cm.", True),
    Case("7", "The final answer for part (b) is 7.", True),
    Case("-3", "Solving the linear equation, we get x = -3.", True),
    Case("2", "The remainder when $2^{10}$ is divided by $7$ is 2.", True),
    Case("15", "In total, Omar buys 15 apples.", True),
    Case("$\\frac{5}{3}$", "Final Answer: The slope of the line is $\\frac{5}{3}$.", True),
    Case("64", "Final Answer: The final answer is 64. I hope it is correct.", True),
    Case("6", "Each of the 3 friends gets 12 / 2 = 6 cookies, so each friend gets 6.", True),
    Case("100", "Answer: The total cost is 100 dollars.", True),
    Case("0.4", "The probability of rain on both days is .4", True),
    Case("9", "**Final Answer**: The number of diagonals is 9.", True),
    Case("$2\\pi$", "The period of $\\sin x$ is $2\\pi$, so the answer is $2\\pi$.", True),
    Case("35", "After adding 20 more, the library has 35 books in the corner.", True),
    Case("3", "Using the 3 given points, the area of the triangle is 12.", False),
    Case("12", "Using the 3 given points, the area of the triangle is 12.", True),
    Case("10", "After 10 minutes the tank holds 45 liters.", False),
    Case("2", "Since $x^2 = 16$ and $x > 0$, we get x = 4.", False),
    Case("5", "There are 5 red balls out of 8, so the probability of drawing a blue one is 3/8.", False),
    Case("$\\frac{3}{8}$", "There are 5 red balls out of 8, so the probability of drawing a blue one is 3/8.", True),
    Case("27", "Final Answer: The largest $k$ is 28.", False),
    Case("16", "Since $x^2 = 16$, the positive root is $x = 4$.", False),
    Case("$\\frac{2}{3}$", "Therefore the probability that Alice wins is 3/2.", False),
    Case("150", "**Answer:** 150 square meters", True),
    Case("\\frac{5}{2}", "The value of $x$ is $\\frac{5}{2}$, which is 2.5.", True),
    Case("72", "She sold 48 + 24 = 72 clips.\n#### 72", True),
    Case("72", "She sold 48 + 24 = 72 clips.\n#### 24", False),
    Case("8", "Hence the minimum value of $f$ on the interval is 8.", True),
    Case("8", "Hence the minimum value of $f$ on the interval is -8.", False),
    Case("$\\sqrt{3}$", "Therefore, $AB = \\sqrt{3}$.", True),
    Case("$2, 3, 5$", "The answer is 2, 3, and 5.", True, "whole answer"),
    Case("$2, 3, 5$", "The answer is 2, 3, and 7.", False),
]

# Golds that are whole solutions: the gold's own final answer (its boxes, its "Final Answer", GSM8K's ####).
SOLUTION_GOLDS = [
    Case("We have $3 \\cdot 4 = 12$, so the answer is $\\boxed{12}$.", "\\boxed{12}", True),
    Case("By Vieta, the sum of the roots is $-\\frac{b}{a} = \\boxed{-\\frac{5}{2}}$.",
         "The answer is $-\\frac{5}{2}$", True),
    Case("This factors as $(n - 1)(n + 2) = 0,$ so the solutions are $n = \\boxed{1,-2}.$",
         "$\\boxed{-2}$ and $\\boxed{1}$", True),
    Case("Solving for $x$ yields $x = 1/5$, or $\\boxed{20}$ percent.", "The answer is 20\\%", True),
    Case("Solving for $x$ yields $x = 1/5$, or $\\boxed{20}$ percent.", "The answer is 0.2", True),
    Case("Since $5 + 7 = 12$, doubling gives $\\boxed{24}$.", "\\boxed{12}", False),
    Case("Since $5 + 7 = 12$, doubling gives $\\boxed{24}$.", "So the answer is 24.", True),
    Case("The distance is $\\sqrt{(4-1)^2 + (5-1)^2} = \\sqrt{25} = \\boxed{5}$.", "\\boxed{5}", True),
    Case("The distance is $\\sqrt{(4-1)^2 + (5-1)^2} = \\sqrt{25} = \\boxed{5}$.", "\\boxed{25}", False),
    Case("The first ten odd numbers sum to $10^2 = 100$. Final Answer: The final answer is $100$. "
         "I hope it is correct.",
         "\\boxed{100}", True),
    Case("The first ten odd numbers sum to $10^2 = 100$. Final Answer: The final answer is $100$. "
         "I hope it is correct.",
         "\\boxed{10}", False),
    Case("Hence \\(\\boxed{3}\\) and \\(\\boxed{5}\\).", "\\boxed{3, 5}", True),
    Case("Hence \\(\\boxed{3}\\) and \\(\\boxed{5}\\).", "\\boxed{3}", False),
    Case("The polar coordinates are $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$.", "$(3, \\frac{\\pi}{2})$", True),
    Case("The matrix is $\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}$.",
         "\\boxed{\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}}", True),
    Case("Each shelf holds $48 / 6 = 8$ books, so she needs $\\boxed{8}$ shelves.", "The answer is: 8", True),
    Case("Each shelf holds $48 / 6 = 8$ books, so she needs $\\boxed{8}$ shelves.", "The answer is: 6", False),
    Case("The region is $\\boxed{[2, 5)}$, since the left endpoint is included.", "\\boxed{[2,5)}", True),
    Case("The region is $\\boxed{[2, 5)}$, since the left endpoint is included.", "\\boxed{(2,5)}", False),
    Case("Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.\n#### 72",
         "The answer is 72", True),
    Case("Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.\n#### 72",
         "The answer is 24", False),
    Case("Thus $f(2) = 4 + 1 = 5$ and the answer is $\\boxed{\\dfrac{9}{7}}$.", "\\boxed{\\frac{9}{7}}", True),
    Case("The answer is $\\boxed{\\text{(C)}}$ since the others fail.", "\\boxed{\\text{(C)}}", True),
    Case("The answer is $\\boxed{\\text{Evelyn}}$, who is the fastest.",
         "Therefore, $\\boxed{\\text{Evelyn}}$ is our answer.", True),
]

# Responses with a <think> ... </think> reasoning block: the answer comes from the text after it.
REASONING_BLOCKS = [
    Case("5",
         "<think>\nLet me compute 2+3. Maybe it's \\boxed{6}? No: 2+3 = 5.\n</think>\n\nThe answer is 5.", True, LAST),
    Case("15", "<think>\nWe need 3 * 5 = 15, and the 12 from before does not matter.\n</think>\n\\boxed{15}", True),
    Case("$\\frac{1}{2}$",
         "<think>\nThe two halves... $\\frac{1}{3}$ is wrong, it is $\\frac{1}{2}$.\n</think>\nFinal answer: "
         "$\\frac{1}{2}$", True),
    Case("8", "<think>\nSo the answer is 7... hmm, wait, actually it is 8.\n</think>\nAnswer: 8", True),
    Case("7", "<think>\nSo the answer is 7... hmm, wait, actually it is 8.\n</think>\nAnswer: 8", False),
    Case("42", "<think>\n6 * 7 = 42, double-check: 42 / 7 = 6.\n</think>\n\nThe total is $\\boxed{42}$.", True),
    Case("13", "<think>\nThe answer is 12? Let me recount: 13.\n</think>\n\\boxed{13}", True),
    Case("12", "<think>\nThe answer is 12? Let me recount: 13.\n</think>\n\\boxed{13}", False),
    Case("10", "<think>\nThe final answer is 9? Let me verify... it's 10.\n</think>\nSo the answer is 10.", True, LAST),
    Case("9", "<think>\nThe final answer is 9? Let me verify... it's 10.\n</think>\nSo the answer is 10.", False, LAST),
    Case("$\\frac{3}{4}$",
         "<think>\nFirst guess $\\boxed{\\frac{2}{3}}$. Re-checking the cases gives 3/4.\n</think>\nThe "
         "probability is $\\frac{3}{4}$.", True, LAST),
    Case("24", "<think>\nperimeter = 2(5 + 7) = 24\n</think>\n\nThe perimeter is 24 cm.", True),
    Case("$(1, 2), (2, 1)$",
         "<think>\nTry (1,2): works. Try (2,1): works.\n</think>\nThe solutions are $\\boxed{(1, 2)}$ and "
         "$\\boxed{(2, 1)}$.", True),
    Case("1.5", "<think>\n3 / 2 = 1,5\n</think>\nThe answer is 1,5", True),
    Case("2", "<think>\nx^2 = 4 so x = 2 or x = -2, but x > 0.\n</think>\n**Final Answer:** $x = 2$", True),
    Case("-2", "<think>\nx^2 = 4 so x = 2 or x = -2, but x > 0.\n</think>\n**Final Answer:** $x = 2$", False),
    Case("5", "<think>\nSo 10 / 2 = 5. The answer is 5.\n</think>", True),
    Case("6", "<think>\n2 * 3 = 6\n</think>\n\n**Final Answer**\n\n\\[\n\\boxed{6}\n\\]", True),
    Case("$\\frac{1}{6}$",
         "<think>\nThere are 36 outcomes and 6 doubles, so $\\frac{6}{36}$.\n</think>\nThe probability of "
         "rolling a double is $\\frac{1}{6}$.", True),
    Case("36",
         "<think>\nThere are 36 outcomes and 6 doubles, so $\\frac{6}{36}$.\n</think>\nThe probability of "
         "rolling a double is $\\frac{1}{6}$.", False),
]

# Reflective responses (LEMMA's trajectories): graded on the answer they end with.
REFLECTIONS = [
    Case("15",
         "So $x = \\boxed{12}$.\n\nWait, let me reconsider the second step. It gives 15.\n"
         "The answer is: 15", True, LAST),
    Case("12",
         "So $x = \\boxed{12}$.\n\nWait, let me reconsider the second step. It gives 15.\n"
         "The answer is: 15", False, LAST),
    Case("12",
         "She has 5 * 3 = 15 eggs. The answer is 15.\nWait a second, she eats 3 of them: 15 - 3 = 12.\nThe "
         "answer is 12", True),
    Case("7", "The answer is 8.\nLet me double-check: 3 + 4 = 7, not 8.\nThe answer is 7", True),
    Case("5", "2+3 = \\boxed{6}.\n\nWait a second, I added wrong. 2+3 = 5.\nThe answer is: 5", True, LAST),
    Case("$\\frac{1}{2}$", "\\boxed{\\frac{1}{3}}, no. Wait, so \\boxed{\\frac{1}{2}}", True, LAST),
    Case("20",
         "The total is $\\boxed{18}$.\n\nHmm, I forgot the 2 extra pens. 18 + 2 = 20.\n\nFinal Answer: The final "
         "answer is 20. I hope it is correct.", True),
    Case("9",
         "The answer is $\\boxed{8}$.\n\nHmm, I think I made an error: 3 squared is 9, not 8.\n\nThe answer is "
         "$\\boxed{9}$.", True),
    Case("9", "So the answer is 8.\nWait, 3^2 = 9. So the final answer is \\boxed{9}.", True),
    Case("8", "So the answer is 8.\nWait, 3^2 = 9. So the final answer is \\boxed{9}.", False),
]

# Responses cut off by the token limit (flag given, or unknown and stopping mid-expression).
TRUNCATED = [
    Case("5", "Omar buys 3 bags with 4 apples each, so he has 12 apples. Then he gives away 5 *", False, TRUNC, True),
    Case("5", "Omar buys 3 bags with 4 apples each, so he has 12 apples. Then he gives away 5 *", False, TRUNC, None),
    Case("5", "First, 3 + 2 = 5. Next we need to multiply by", False, TRUNC, True),
    Case("12", "The answer is 12.\nLet me verify: 12 / 4 = 3, and 3 *", True, None, True),
    Case("5", "So Omar ends up with 5", True, None, False),
    Case("42", "<think>\nFirst compute 6*7 = 42. Then", False, TRUNC, True),
    Case("9", "We have $x = 9$. So the sum is $x + y =", False, TRUNC, None),
    Case("6", "Let me compute: 2 \\times 3 = 6, and then 6 \\times", False, TRUNC, None),
    Case("20", "Each of the 4 boxes holds 5 pens, so 4 * 5 = 20 pens. Then she buys", False, TRUNC, True),
    Case("20", "Each of the 4 boxes holds 5 pens, so 4 * 5 = 20 pens in total.", True, None, False),
]

# Lemma's number policies and gold reading where they differ from plain Math-Verify.
NUMBER_POLICIES = [
    Case("10{,}000", "The population grows to $\\boxed{10000}$.", True, GOLD),
    Case("$\\frac{1}{2006!}$", "\\boxed{\\frac{1}{2004!}}", False, EXACT),
    Case("$10^{-20}$", "The answer is $\\boxed{10^{-21}}$", False, EXACT),
    Case("25\\%", "So the discount is \\boxed{25\\%}.", True, GOLD),
    Case("10{,}000", "The population grows to 10000.", True, GOLD),
    Case("$3.14159265$", "\\boxed{3.1415926}", False, EXACT),
    Case("$12$", "\\boxed{12.0000001}", False),
    Case("$50$", "The answer is 50\\%", True),
    Case("$\\text{(C)}$", "\\boxed{\\text{(C)}}", True),
    Case("\\frac{3}{4}", "\\boxed{0.75}", True),
    Case("$25\\%$", "\\boxed{25}", True, PCT),
    Case("\\dfrac{9}{7}", "Therefore the answer is $\\boxed{\\dfrac{9}{7}}$.", True, GOLD),
    Case("3,5", "\\boxed{3, 5}", True, GOLD),
    Case("Richard's recipe", "The answer is Richard's recipe", True, "whole answer"),
]

FIVE_KINDS = {
    "several parts": MULTI_PART,
    "decimal commas": DECIMAL_COMMAS,
    "sentences": SENTENCES,
    "solution golds": SOLUTION_GOLDS,
    "reasoning blocks": REASONING_BLOCKS,
}
TABLE = [case for cases in FIVE_KINDS.values() for case in cases] + REFLECTIONS + TRUNCATED + NUMBER_POLICIES


def _id(case: Case) -> str:
    return f"{case.gold[:20]}|{case.response[-40:]}|{case.truncated}"


def test_table_covers_the_five_kinds_and_their_false_twins() -> None:
    assert sum(len(cases) for cases in FIVE_KINDS.values()) >= 150
    for kind, cases in FIVE_KINDS.items():
        assert sum(c.expected for c in cases) >= 10, kind
        assert sum(not c.expected for c in cases) >= 3, kind  # false twins
    assert len({(c.gold, c.response, c.truncated) for c in TABLE}) == len(TABLE)


def test_every_rule_kept_on_purpose_has_cases() -> None:
    """Each disagreement rule a user can see in --compare is exercised here (qwen_compat's and identical answers'
    are tested below, on inputs built for them)."""
    named = Counter(c.rule for c in TABLE if c.rule is not None)
    assert set(named) == set(RULES) - {"qwen_compat rules", IDENTICAL}, named


@pytest.fixture(scope="module")
def grader() -> Grader:
    with Grader(timeout_s=20, workers=2) as g:
        yield g


@pytest.fixture(scope="module")
def verdicts(grader: Grader) -> list[Verdict]:
    return grader.grade([c.response for c in TABLE], [c.gold for c in TABLE], truncated=[c.truncated for c in TABLE])


@pytest.fixture(scope="module")
def compared(grader: Grader, verdicts: list[Verdict]) -> list[MathVerifyVerdict]:
    return compare_with_math_verify(grader, [c.response for c in TABLE], [c.gold for c in TABLE], verdicts,
                                    [c.truncated for c in TABLE])


def _plain_math_verify(case: Case) -> bool:
    """The oracle, independent of lemma's code: Math-Verify as its README shows it."""
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return bool(verify(parse(case.gold), parse(case.response)))


@pytest.mark.parametrize("index", range(len(TABLE)), ids=[_id(c) for c in TABLE])
def test_lemma_and_plain_math_verify_on_the_table(index: int, verdicts: list[Verdict],
                                                   compared: list[MathVerifyVerdict]) -> None:
    case, verdict, plain = TABLE[index], verdicts[index], compared[index]
    assert not verdict.timed_out and verdict.error is None
    assert verdict.correct is case.expected, verdict
    math_verify = _plain_math_verify(case)
    assert plain.correct is math_verify  # --compare runs the same plain Math-Verify, in the grader's workers
    if case.rule is None:
        assert math_verify is case.expected and plain.disagreement is None
    else:  # a kept disagreement: plain Math-Verify is wrong here, and the report names the rule
        assert math_verify is not case.expected and plain.disagreement == case.rule


def test_zero_disagreements_outside_the_named_rules(compared: list[MathVerifyVerdict]) -> None:
    by_rule = Counter(p.disagreement for p in compared if p.disagreement is not None)
    assert sum(by_rule.values()) == sum(c.rule is not None for c in TABLE)
    assert set(by_rule) <= set(RULES)


class _Verdict(NamedTuple):
    correct: bool
    truncated: bool = False
    rule: str | None = None


def test_classify_names_lemma_comparison_rules() -> None:
    """Identical text that Math-Verify cannot parse even boxed: lemma's comparison decided."""
    record = {"correct": False, "with_lemma_gold": False, "with_lemma_answer": False, "with_lemma_both": False}
    assert classify(_Verdict(True, rule=IDENTICAL), Answer("x"), record) == IDENTICAL
    assert classify(_Verdict(True), Answer("x"), record) == EXACT
    assert classify(_Verdict(False), Answer("x"), record) is None
    assert classify(_Verdict(True), Answer("x"), record, mode="qwen_compat") == "qwen_compat rules"


def test_qwen_compat_keeps_the_papers_last_number_rule(grader: Grader) -> None:
    cut = "Omar buys 3 bags with 4 apples each, so he has 12 apples. Then he gives away 5 *"
    with Grader(mode="qwen_compat", timeout_s=10, workers=1) as qwen:
        [paper] = qwen.grade([cut], ["5"], truncated=[True])
    [primary] = grader.grade([cut], ["5"], truncated=[True])
    assert paper.correct and paper.truncated and paper.extracted == "5"
    assert not primary.correct and primary.truncated and primary.extracted is None
