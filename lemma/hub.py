"""Rows of a Hugging Face hub dataset: several configs concatenated, failures explained.

The hub is the second source of every benchmark and train set that has a public copy (`source: hub`); the shipped
files under data/ are the first. Some sets are split over configs with no default (EleutherAI/hendrycks_math has one
config per MATH subject), so a source names a list of configs and gets their rows in that order; a split such as
"train+test" concatenates splits (the `datasets` split syntax). `datasets` is imported here only, on first use, so
runs that read files never import it and tests never reach the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lemma.errors import LemmaError


class HubUnavailable(LemmaError):
    """A hub dataset could not be loaded (offline, renamed, gated); the message says how to use the shipped file."""


def hub_rows(name: str, configs: Sequence[str], split: str, where: str) -> list[dict[str, Any]]:
    """Rows of `name` for each config in `configs` (or its default config when empty), `split`, in order."""
    from datasets import load_dataset

    rows: list[dict[str, Any]] = []
    for config in list(configs) or [None]:
        try:
            part = load_dataset(name, config, split=split)
        except Exception as exc:  # noqa: BLE001 - network, auth and naming errors all mean "use the file instead"
            label = f"{name}" + (f" (config {config})" if config else "") + f", split {split}"
            raise HubUnavailable(
                f"{where}: could not load {label} from the Hugging Face hub: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:300] if str(exc) else ''}. If this machine is offline, use the copy "
                f"the project ships (source=file, the default; data/SOURCES.md), or load the dataset once where "
                f"there is network and set HF_DATASETS_OFFLINE=1 to read it from the local cache") from None
        rows += [dict(r) for r in part]
    return rows


def require_fields(rows: list[dict[str, Any]], fields: Sequence[str], where: str, source: str) -> None:
    """Fail with the fields the rows do have when a field the loader reads is missing (a renamed hub column)."""
    if not rows:
        raise HubUnavailable(f"{where}: {source} has no rows")
    missing = [f for f in fields if f.split(".")[0] not in rows[0]]
    if missing:
        raise HubUnavailable(f"{where}: rows of {source} have no field(s) {', '.join(missing)} (they have "
                             f"{', '.join(sorted(rows[0]))}); the hub copy changed its format, so use source=file")
