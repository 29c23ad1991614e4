"""Few-shot demonstrations for evaluation prompts: the 4 GSM8K demos of LEMMA's cot-meta-math protocol.

LEMMA's harness runs ASDiv, MAWPS and SVAMP with 8 shots requested, which under `cot-meta-math` resolves to a 4-item
GSM8K demo list (METHOD.md §7): effectively 4-shot. That list is not published, so `lemma/assets/gsm8k_demos.json`
holds 4 GSM8K *train* problems with responses written in the SFT target style ("... The answer is: N"). The file's
bytes go into the evaluate stage's key, so editing a demo re-evaluates.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
DEMO_SETS: dict[str, str] = {"gsm8k": "gsm8k_demos.json"}


def demo_file(name: str = "gsm8k") -> Path:
    try:
        return ASSETS / DEMO_SETS[name]
    except KeyError:
        raise KeyError(f"unknown demo set {name!r}; known: {', '.join(DEMO_SETS)}") from None


@lru_cache(maxsize=None)
def load_demos(name: str = "gsm8k") -> tuple[tuple[str, str], ...]:
    """All (question, response) pairs of a demo set, in file order."""
    data = json.loads(demo_file(name).read_text(encoding="utf-8"))
    return tuple((d["question"], d["response"]) for d in data["demos"])


def shots_for(count: int, name: str = "gsm8k") -> tuple[tuple[str, str], ...]:
    """The first `count` demos; asking for more than the set holds is an error, not a silent cap."""
    if count < 0:
        raise ValueError(f"shots={count} must be >= 0")
    demos = load_demos(name)
    if count > len(demos):
        raise ValueError(f"shots={count}, but the {name!r} demo set holds {len(demos)} demonstrations "
                         f"({demo_file(name)}); LEMMA's 8-shot request resolves to these {len(demos)}: set shots: "
                         f"{len(demos)}")
    return demos[:count]


def demo_bytes() -> dict[str, bytes]:
    """Every demo file's bytes, for artifact keys."""
    return {f"demos/{name}": demo_file(name).read_bytes() for name in DEMO_SETS}
