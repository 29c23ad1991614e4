"""Where a response reflects: the documented list of reflection phrases and how they are found.

LEMMA's trajectories are "flawed prefix, reflection phrase, corrected continuation" (METHOD.md §3.6-3.7: F&C opens with
transition phrases in the spirit of "Wait a second, ..." or "Hmm, I want to verify ...", F&R announces a different
approach). No harness measures whether a trained model does this at test time (EVALUATION.md §6.3), so evaluation
reports the reflection rate and answer changes; both need one agreed list, kept here.

A phrase counts only at the start of a sentence (start of text, or after a line break or `.!?:;`, optional closing
quotes/brackets/markdown in between), capitalised as written below, so "the waiting time" or "we wait 5 minutes"
never match. The list is part of the evaluate stage's key: editing it re-evaluates.
"""

from __future__ import annotations

import re

# Openers that announce checking, doubting or restarting. "Let me re-" / "Let's re-" cover re-check, re-examine,
# re-evaluate, re-calculate, re-read. Order does not matter (the earliest match in the text wins).
REFLECTION_PHRASES: tuple[str, ...] = (
    "Wait",
    "Hmm",
    "Hold on",
    "Oops",
    "On second thought",
    "On reflection",
    "Upon reflection",
    "Upon closer inspection",
    "Looking back",
    "Actually,",
    "Alternatively",
    "But wait",
    "Let me re-",
    "Let me check",
    "Let me double-check",
    "Let me verify",
    "Let me reconsider",
    "Let me rethink",
    "Let me correct",
    "Let me try again",
    "Let me try a different",
    "Let me try another",
    "Let me start over",
    "Let me recheck",
    "Let me recompute",
    "Let me recalculate",
    "Let me retrace",
    "Let me redo",
    "Let me solve this again",
    "Let me pause",
    "Let me step back",
    "Let me approach",
    "Let me look at",
    "Before I go further",
    "Let's re-",
    "Let's double-check",
    "Let's verify",
    "Let's reconsider",
    "Let's rethink",
    "Let's correct",
    "Let's try again",
    "Let's try a different approach",
    "Let's try another approach",
    "Let's start over",
    "I made a mistake",
    "I made an error",
    "That's not right",
    "That is not right",
    "That's incorrect",
    "That is incorrect",
    "This is incorrect",
    "This is not correct",
    "That doesn't seem right",
    "This doesn't seem right",
    "I need to recheck",
    "I need to reconsider",
    "I need to correct",
    "I think I made",
)

_BOUNDARY = r"(?:^|(?<=[\n.!?:;]))[\s\"'*_)\]]*"


def _alternative(phrase: str) -> str:
    """Regex for one phrase: curly or straight apostrophes; a whole word unless it is a stem ending in '-'."""
    body = re.escape(phrase).replace("'", "['\u2019]")
    if phrase == "Hmm":
        body = "Hm{2,}"  # Hmm, Hmmm, ...
    return body + ("(?![A-Za-z])" if phrase[-1].isalnum() else "")


def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = [_alternative(p) for p in sorted(set(phrases), key=len, reverse=True)]
    return re.compile(_BOUNDARY + "(?P<phrase>" + "|".join(alternatives) + ")")


_PATTERN = _pattern(REFLECTION_PHRASES)


def find_reflections(text: str) -> list[tuple[int, str]]:
    """(offset, phrase) of every reflection phrase at a sentence start, in text order."""
    return [(m.start("phrase"), m.group("phrase")) for m in _PATTERN.finditer(text)]


def first_reflection(text: str) -> int | None:
    """Offset of the first reflection phrase, None when the response never reflects."""
    m = _PATTERN.search(text)
    return m.start("phrase") if m else None


def split_first_attempt(text: str) -> tuple[str, str] | None:
    """(first attempt, rest from the first reflection phrase on); None when the response never reflects."""
    pos = first_reflection(text)
    return None if pos is None else (text[:pos], text[pos:])
