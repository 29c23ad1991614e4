"""The correction strategies: one vocabulary for configs, prompt folders, teachers and lineage.

A strategy's value is what `correction.strategies` lists, what `SFTExample.strategy` records, and the name of its
prompt folder (`lemma/prompts/<value>/`). Adding one is an enum member and its title here, a prompt file, and a
rule in each symbolic world's REVISERS table (lemma.teacher.symbolic).
"""

from __future__ import annotations

from enum import StrEnum


class Strategy(StrEnum):
    fix = "fix"  # Fix & Continue: the wrong step, a reflection, the step fixed, the solution continued
    fresh = "fresh"  # Fresh & Restart: a reflection, then a new solution from the start by another route


TITLES: dict[Strategy, str] = {Strategy.fix: "Fix & Continue", Strategy.fresh: "Fresh & Restart"}
