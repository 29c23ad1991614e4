"""Step splitting with character spans, and truncation after the first wrong step.

The original split on ". " (breaks on "Mr. " and "e.g. ") or ".\\n" (merges MATH lines without a period) and re-joined
the pieces, so a truncated prefix was not a slice of the original text (METHOD.md §3.5). We keep spans: the prefix
is always `text[:end of step k]`, exact to the character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREVIATIONS = ("Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Jr.", "Sr.", "vs.", "e.g.", "i.e.", "etc.", "approx.", "No.")
# A sentence ends at . ! ? followed by whitespace and an upper-case letter, digit or '$' (not inside "3.5").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9$\\(])")
_ENV_OPEN = re.compile(r"\\begin\{|\$\$|\\\[")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def split_steps(text: str, dataset: str = "gsm8k") -> list[Span]:
    """Split a solution into steps, returned as character spans (leading/trailing blanks excluded).

    Lines are steps. Within a GSM8K-style line that holds several sentences, each sentence is a step. Display
    math blocks (`$$..$$`, `\\[..\\]`, `\\begin..\\end`) stay inside one step. MATH solutions are split by line only,
    since their sentences often run across formulas.
    """
    spans: list[Span] = []
    for start, end in _line_spans(text):
        if dataset == "math":
            spans.append(Span(start, end))
        else:
            spans.extend(_sentence_spans(text, start, end))
    return spans


def _line_spans(text: str) -> list[tuple[int, int]]:
    """Non-empty lines, with display-math blocks kept together."""
    spans: list[tuple[int, int]] = []
    pos, open_block = 0, None
    for line in text.splitlines(keepends=True):
        start, end = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        stripped = text[start:end].strip()
        if not stripped:
            continue
        lead = start + (len(text[start:end]) - len(text[start:end].lstrip()))
        tail = start + len(text[start:end].rstrip())
        if open_block is not None:
            open_block = (open_block[0], tail)
            if _closes_block(text[open_block[0]:tail]):
                spans.append(open_block)
                open_block = None
            continue
        if _ENV_OPEN.search(stripped) and not _closes_block(stripped):
            open_block = (lead, tail)
            continue
        spans.append((lead, tail))
    if open_block is not None:
        spans.append(open_block)
    return spans


def _closes_block(fragment: str) -> bool:
    return (fragment.count("$$") % 2 == 0 and fragment.count("\\[") <= fragment.count("\\]")
            and fragment.count("\\begin{") <= fragment.count("\\end{"))


def _sentence_spans(text: str, start: int, end: int) -> list[Span]:
    line = text[start:end]
    cuts = [m for m in _SENTENCE_END.finditer(line) if not _ends_with_abbreviation(line[: m.start()])]
    spans, cursor = [], 0
    for m in cuts:
        spans.append(Span(start + cursor, start + m.start()))
        cursor = m.end()
    spans.append(Span(start + cursor, end))
    return [s for s in spans if text[s.start:s.end].strip()]


def _ends_with_abbreviation(prefix: str) -> bool:
    return prefix.endswith(_ABBREVIATIONS) or bool(re.search(r"\b[A-Z]\.$", prefix))


def step_texts(text: str, spans: list[Span]) -> list[str]:
    return [text[s.start:s.end] for s in spans]


def truncate_after(text: str, spans: list[Span], step: int) -> str:
    """The prefix up to and including 1-based `step`: an exact slice of `text`."""
    if not 1 <= step <= len(spans):
        raise ValueError(f"step {step} outside 1..{len(spans)}")
    return text[: spans[step - 1].end]


def numbered(text: str, spans: list[Span]) -> str:
    """Steps shown to a teacher as 'step 1: ...' lines, numbered exactly as `split_steps` numbers them."""
    return "\n".join(f"step {i}: {t}" for i, t in enumerate(step_texts(text, spans), start=1))
