"""Text helpers shared by the stages' `summary(stats)` lines in report.md's data section.

Each stage formats its own statistics (it knows their keys); this module only keeps the pieces every stage writes
the same way, so the report reads uniformly. It imports nothing from lemma, so any stage can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def kv(counts: Mapping[str, Any]) -> str:
    """`{"a": 1, "b": 2}` -> "a 1, b 2"; an empty mapping -> "none"."""
    return ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else "none"
