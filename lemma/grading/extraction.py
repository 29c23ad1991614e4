"""Extraction: which answer a response commits to. Pure string code, linear time, safe on any text (runs in the parent).

The rule that matters for LEMMA (METHOD.md §3.9): a reflective response is graded on the answer it ENDS with, so the
answer marker (a ``\\boxed{}``, "The answer is", "Final Answer:", "answer:") that occurs LAST wins, whatever its kind.
Everything else defers to Math-Verify's own extraction, so that lemma never reads less than the library it wraps:

* a marker followed by a clean answer (``\\boxed{5}``, "The answer is: 18") gives that answer, which the parent can
  compare exactly without starting a worker;
* several boxes that form one answer (``\\boxed{(1, 2)}, \\boxed{(2, 1)}``) are joined as Math-Verify joins them
  (one set), unless a reflection phrase separates them (then they are successive attempts);
* a sentence ("Final Answer: The largest $n$ is 34.") or a response without any marker gives a *span*: Math-Verify's
  own extraction reads the answer from that stretch of text (the number after "is", the last expression);
* a ``<think>`` reasoning block is skipped: the answer comes from the text after the last ``</think>`` (from the
  block itself only when nothing follows it);
* a response cut off by the token limit before any marker has no answer (rule "truncated response"), where plain
  Math-Verify would grade whatever number it ended on ("Omar buys 5 *").

Golds go through ``gold_answer``: a bare gold stays as it is (it is boxed before parsing, EVALUATION.md §4.2), a gold
wrapped in one math environment loses the wrapper, and a gold that is a whole solution gives its own final answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lemma.answer_norm import Box, boxed_candidates, chain_start

__all__ = ["LAST_ANSWER_WINS", "SEVERAL_BOXES", "TRUNCATED", "Answer", "bare_gold", "boxed_candidates", "clean_answer",
           "extract", "extract_answer", "gold_answer", "is_plain_text", "looks_cut_off", "strip_markdown"]

# Rule names reported by `python -m lemma.grade --compare` when they make lemma differ from plain Math-Verify.
LAST_ANSWER_WINS = "last answer wins"
SEVERAL_BOXES = "several boxes"
TRUNCATED = "truncated response"

_MAX_ANSWER_CHARS = 2000
_MAX_MARKERS_TRIED = 64  # the last 64 markers: a text of thousands of empty "The answer is" stays linear
_SPAN_CHARS = 4000  # no marker: Math-Verify reads the last 4,000 characters (it takes the rightmost match anyway)

_BOXED_START = re.compile(r"\\(?:boxed|fbox)\b\s*")  # as lemma.answer_norm finds boxes
_ANSWER_PHRASE = re.compile(  # "answer:" only as a label at a line start ("We may check our answer: ..." is prose)
    r"final\s+answer(?:[^\n.$]{0,80}?\s+is\b|\s*:)|\banswer\s+is\b|^[ \t#>_-]*answer\s*:", re.IGNORECASE | re.MULTILINE
)
_MATH_ENV = re.compile(  # an escaped dollar ("\\$18") is money, not a delimiter
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.DOTALL
)
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\s+I hope\b", re.IGNORECASE)
_TRAILING_PUNCT = re.compile(r"^[\s.,;:!]*$")
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_CUT_OFF_END = re.compile(r"(?:[-+*/^=(\[{\\×÷,]|\\(?:times|cdot|frac|sqrt))$")
_THINK_CLOSE = "</think>"
_PERCENT_AFTER = re.compile(r"\$?\s*(?:\\%|%|percent(?:age)?\b|pct\b)", re.IGNORECASE)


@dataclass(frozen=True)
class Answer:
    """What a text commits to.

    ``span`` False: ``text`` is the answer itself (compared as is; exact numbers apply in the parent). ``span`` True:
    ``text`` is the stretch of the response Math-Verify extracts the answer from. ``text`` None: no answer
    (``truncated`` when the response was cut off before any marker). ``plain``: written in plain text, not in a box or
    math environment, so a decimal comma may be meant ('1,22'). ``after_other_answers``: an earlier marker or a
    reasoning block was passed over, so plain Math-Verify may read another place ("last answer wins").
    ``several_boxes``: the answer joins several boxes ("several boxes").
    """

    text: str | None
    span: bool = False
    truncated: bool = False
    after_other_answers: bool = False
    plain: bool = False
    several_boxes: bool = False

    def wire(self) -> tuple[str | None, bool, bool]:
        """What a worker needs: (text, span, plain)."""
        return self.text, self.span, self.plain


def is_plain_text(text: str) -> bool:
    """No LaTeX at all (no backslash, no ``$``): a comma between digits may be a decimal mark."""
    return "\\" not in text and "$" not in text


def strip_markdown(text: str) -> str:
    """Markdown bold around answers (``**73**``) breaks Math-Verify's extraction (Math-Verify#76)."""
    return text.replace("**", "")


def _box_answer(text: str, boxes: list[Box], index: int) -> Answer | None:
    """The answer a box gives: its content, or with the boxes before it that form one answer, their contents joined
    with ',' exactly as Math-Verify joins them ('\\boxed{(1, 2)}, \\boxed{(2, 1)}' -> '(1, 2),(2, 1)', a set)."""
    box = boxes[index]
    if box.content is None:
        return None
    first = chain_start(text, boxes, index)
    if first < index:
        joined = clean_answer(",".join((b.content or "").strip() for b in boxes[first : index + 1]))
        return Answer(joined, several_boxes=True) if joined is not None else None
    cleaned = clean_answer(box.content)
    if cleaned is not None and _PERCENT_AFTER.match(text, box.end):  # "$\\boxed{20}$ percent"
        cleaned += "\\%"
    return Answer(cleaned) if cleaned is not None else None


_FUNCTION_WORDS = frozenset({"so", "is", "it", "we", "of", "to", "be", "an", "as", "at", "by", "if", "on", "no",
                             "my", "us", "do", "he", "up", "am"})


def _words(text: str) -> list[str]:
    """Words that make text prose: three letters or more, or an English two-letter word ('so', 'is'); LaTeX commands,
    ``\\text{}`` and the connectives 'and'/'or' aside ('x = 5 cm', '2, 3, and 5' have none)."""
    without_latex = re.sub(r"\\text\s*\{[^{}]*\}|\\[A-Za-z]+", " ", text)
    return [w for w in re.findall(r"[A-Za-z]{2,}", without_latex)
            if w.lower() not in ("and", "or") and (len(w) >= 3 or w.lower() in _FUNCTION_WORDS)]


def _is_prose(answer: str) -> bool:
    """'positive, because two of the three numbers are negative' is a remark, not an answer (six words or more)."""
    return len(_words(answer)) >= 6


def _has_math(text: str) -> bool:
    return bool(re.search(r"[\d\\=^]", text))


def _is_clean(answer: str) -> bool:
    """An answer to compare as is: no ordinary words ('\\frac{3}{4}', 'x = 5', '2, 3, and 5'), or a short text
    answer without any mathematics ('Monday', "Richard's recipe")."""
    if "\n" in answer or len(answer) > 200:
        return False
    if not _words(answer):
        return True
    return not _has_math(answer) and len(answer.split()) <= 3


def _phrase_answer(text: str, start: int) -> tuple[str, int] | None:
    """(answer sentence, where it ends) after "The answer is" at ``start``: the rest of the line (or of the next
    non-empty line when this one is empty), or a display-math block opened there."""
    limit = min(len(text), start + _MAX_ANSWER_CHARS)
    i = start
    while i < limit and text[i] in " \t:":
        i += 1
    line_end = text.find("\n", i, limit)
    if line_end >= 0 and not text[i:line_end].strip():  # "The answer is:\n\n$$...$$"
        while i < limit and text[i].isspace():
            i += 1
    rest = text[i:limit]
    if rest.startswith(("$$", "\\[")):  # display math may span lines
        env = _MATH_ENV.match(rest)
        if env is not None:
            return rest[: env.end()], i + env.end()
    line = rest.split("\n", 1)[0]
    if not line.strip():
        return None
    cut = _first_sentence_end(line)
    return line[:cut], i + cut


def _first_sentence_end(line: str) -> int:
    """Where the sentence that starts ``line`` ends, not counting a '.' inside a math environment ('$1.5$')."""
    envs = [(m.start(), m.end()) for m in _MATH_ENV.finditer(line)]
    for m in _SENTENCE_END.finditer(line):
        if not any(a <= m.start() < b for a, b in envs):
            return m.start()
    return len(line)


def _sentence_kind(sentence: str) -> Answer | None:
    """A phrase's sentence -> a clean answer, a span for Math-Verify, or None (a remark: yield to an earlier marker)."""
    stripped = sentence.strip()
    env = _MATH_ENV.match(stripped)
    if env is not None and _TRAILING_PUNCT.match(stripped[env.end() :]):
        cleaned = clean_answer(next(g for g in env.groups() if g is not None))
        return Answer(cleaned) if cleaned is not None else None
    cleaned = clean_answer(stripped)
    if cleaned is None or _is_prose(cleaned) and not _has_math(cleaned):
        return None
    if _MATH_ENV.search(cleaned) is None and _is_clean(cleaned):
        return Answer(cleaned, plain=is_plain_text(stripped))
    return Answer(sentence, span=True)


def clean_answer(ans: str) -> str | None:
    """Trim what extraction leaves around an answer: spaces, a leading ':', a trailing '.', '/', ',', stray ``$``, and
    plain unit words after a number ('18 dollars per day' -> '18')."""
    ans = ans.strip().lstrip(":").strip()
    ans = ans.rstrip(".,/;").strip()
    if ans.startswith("$") and ans.endswith("$") and len(ans) > 1:
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
    return not _words(text)


def _tail_start(text: str, size: int) -> int:
    """Where the last ``size`` characters start, moved past a ``$`` when the cut falls inside ``$...$``."""
    offset = max(0, len(text) - size)
    if offset and len(_UNESCAPED_DOLLAR.findall(text, 0, offset)) % 2:
        first = _UNESCAPED_DOLLAR.search(text, offset)
        offset = first.end() if first is not None else offset
    return offset


def looks_cut_off(text: str) -> bool:
    """Text that stops mid-expression ('Omar buys 5 *', 'so x =', 'the sum $\\frac{1}{'): what a token limit leaves."""
    return _CUT_OFF_END.search(text.rstrip()[-12:]) is not None


def _without_marker(text: str, truncated: bool | None) -> Answer:
    """No marker: a bare answer as is; a cut-off response has none; otherwise Math-Verify reads the tail."""
    stripped = text.strip()
    if not stripped:
        return Answer(None)
    if _looks_bare(stripped):
        return Answer(clean_answer(stripped), plain=is_plain_text(stripped))
    if truncated or (truncated is None and looks_cut_off(stripped)):
        return Answer(None, truncated=True)
    if len(stripped) <= 40 and len(stripped.split()) <= 3 and not _has_math(stripped):  # 'Monday', 'yes'
        return Answer(clean_answer(stripped))
    return Answer(text[_tail_start(text, _SPAN_CHARS) :], span=True)


def _markers(text: str, boxes: list[Box]) -> list[tuple[int, bool, int]]:
    """(position, is_box, index into boxes or phrase end) for every marker, LAST first."""
    boxed = [(b.start, True, i) for i, b in enumerate(boxes)]
    phrases = [(m.start(), False, m.end()) for m in _ANSWER_PHRASE.finditer(text)]
    return sorted(boxed + phrases, key=lambda m: (m[0], m[1]), reverse=True)


def _extract_plain(text: str, truncated: bool | None) -> Answer:
    boxes = boxed_candidates(text)
    markers = _markers(text, boxes)
    for rank, (pos, is_box, ref) in enumerate(markers[:_MAX_MARKERS_TRIED]):
        earlier = rank + 1 < len(markers)
        if is_box:
            answer, start = _box_answer(text, boxes, ref), boxes[chain_start(text, boxes, ref)].start
        else:
            answer, start = _phrase_marker_answer(text, pos, ref, earlier), pos
        if answer is not None:
            others = any(p < start for p, _, _ in markers[rank + 1 :])
            return Answer(answer.text, answer.span, after_other_answers=others, plain=answer.plain,
                          several_boxes=answer.several_boxes)
    return _without_marker(text, truncated)


def _phrase_marker_answer(text: str, pos: int, phrase_end: int, earlier: bool) -> Answer | None:
    """The answer a phrase introduces; a word-only one ('The answer is correct.') yields to an earlier marker."""
    found = _phrase_answer(text, phrase_end)
    if found is None:
        return None
    answer = _sentence_kind(found[0])
    if answer is None:
        return None
    if answer.span:
        return Answer(text[pos : found[1]], span=True)  # Math-Verify reads the sentence from its anchor
    if earlier and not _has_math(answer.text or ""):
        return None
    return answer


def extract(text: str | None, truncated: bool | None = None) -> Answer:
    """The answer a full response commits to (see the module docstring).

    ``truncated``: the generation hit its token limit (True), stopped on its own (False), or unknown (None: a text that
    stops mid-expression counts as cut off). It only matters when no marker is found.
    """
    if not text:
        return Answer(None)
    text = strip_markdown(text)
    close = text.rfind(_THINK_CLOSE)
    if close >= 0:
        after = _extract_plain(text[close + len(_THINK_CLOSE) :], truncated)
        if after.text is not None or after.truncated:
            return Answer(after.text, after.span, after.truncated, after_other_answers=True, plain=after.plain,
                          several_boxes=after.several_boxes)
        return _extract_plain(text.replace("<think>", "").replace(_THINK_CLOSE, "\n"), truncated)
    return _extract_plain(text.replace("<think>", ""), truncated)


def extract_answer(text: str | None) -> str | None:
    """``extract(text).text``: the answer, or the span Math-Verify reads it from; None if there is none."""
    return extract(text).text


def _single_env(text: str) -> str | None:
    """Content of a math environment that wraps the whole of ``text`` ('$\\frac{14}{3}$', '$$(2, 2), (6, 2)$$')."""
    env = _MATH_ENV.fullmatch(text)
    if env is None:
        return None
    content = next(g for g in env.groups() if g is not None)
    return None if _UNESCAPED_DOLLAR.search(content) else content.strip()


def gold_answer(gold: str | None) -> Answer:
    """A gold as compared: bare (trimmed like a prediction), unwrapped from one math environment, or the final answer
    of a whole solution as Math-Verify reads it."""
    text = "" if gold is None else str(gold).strip()
    if _BOXED_START.search(text) or _is_prose(text) and _has_math(text):
        found = extract(text, truncated=False)
        if found.text is not None:
            return Answer(found.text, found.span, plain=found.plain)
    inner = _single_env(text)
    if inner is not None:
        return Answer(bare_gold(inner))
    return Answer(bare_gold(text), plain=is_plain_text(text))


def bare_gold(gold: str | None) -> str:
    """A bare gold trimmed like an extracted prediction: a sentence-final '.' and plain unit words after a number go
    ('E(t)=360 t, t \\geq 0.', '3.6 hours' -> '3.6': College-Math golds carry both), so that extraction's '3.6' is not
    compared with the product 3.6*h*o*u*r*s."""
    return "" if gold is None else _drop_unit_words(str(gold).strip().rstrip(".").strip())
