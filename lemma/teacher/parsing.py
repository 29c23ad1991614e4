"""Strict, small extractors for teacher replies: a trailing JSON object, tagged sections, the answer line, the prefix.

The original parsed free sentences ("the wrong type is X.") and fell back to scanning for any label in *list* order
(METHOD.md §3.2, §10 defect 12). Our prompts ask for machine-readable endings instead: short verdicts as one JSON
object on the last line (no free text inside it, so LaTeX backslashes never meet JSON escaping), and long texts
between tags. Every extractor returns None rather than guessing; the caller turns None into a re-ask.
"""

from __future__ import annotations

import json
import re
from typing import Any

_ANSWER_LINE = re.compile(r"the answer is\s*:?\s*\S", re.IGNORECASE)
LEAK_TERMS = ("reference solution", "ground truth", "ground-truth", "previous attempt", "the reference",
              "another student")
_WS = re.compile(r"\s+")


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last top-level JSON object in `text` (code fences and surrounding prose are ignored)."""
    decoder = json.JSONDecoder()
    found: dict[str, Any] | None = None
    pos = text.find("{")
    while pos != -1:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            pos = text.find("{", pos + 1)
            continue
        if isinstance(value, dict):
            found = value
        pos = text.find("{", end)
    return found


def tagged(text: str, tag: str) -> str | None:
    """Content of the last complete <tag>...</tag> (None when missing or cut off), without surrounding blank lines."""
    matches = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.DOTALL | re.IGNORECASE)
    if not matches:
        return None
    return matches[-1].strip("\n").rstrip()


def has_answer_line(text: str) -> bool:
    return bool(_ANSWER_LINE.search(text))


def as_step(value: Any) -> int | None:
    """An integer step number from JSON or a tag (accepts 3, "3", "step 3"); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(?:step|line)?\s*(\d+)\s*\.?\s*", value, flags=re.IGNORECASE)
        return int(m.group(1)) if m else None
    return None


def leaked_term(text: str) -> str | None:
    lowered = text.lower()
    return next((term for term in LEAK_TERMS if term in lowered), None)


def strip_prefix(reply: str, prefix: str) -> str | None:
    """What follows `prefix` in `reply`, comparing modulo whitespace; None when the reply does not start with it.

    Teachers re-wrap lines and trim spaces when they copy, which changes nothing a reader sees; any other change to
    the copied prefix (a fixed number, a dropped word) is a failed copy.
    """
    target = _WS.sub("", prefix)
    i = matched = 0
    while matched < len(target):
        if i >= len(reply):
            return None
        ch = reply[i]
        i += 1
        if ch.isspace():
            continue
        if ch != target[matched]:
            return None
        matched += 1
    return reply[i:]


def first_sentence(text: str) -> str:
    """The reflection phrase: the continuation's first sentence (or first line, if shorter)."""
    line = text.strip().split("\n", 1)[0]
    m = re.search(r"[.!?](\s|$)", line)
    return line[: m.start() + 1] if m else line
