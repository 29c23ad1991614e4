"""What `run.py` does inside Hydra: validate, run the pipeline, print the results table."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lemma.config import LemmaConfigError
from lemma.pipeline import run

log = logging.getLogger("lemma")


def main_entry(cfg: DictConfig, output_dir: str, job: dict[str, Any] | None = None) -> float | None:
    """Returns the headline metric (LEMMA arm's average accuracy) so sweepers can optimise it."""
    logging.getLogger().setLevel(cfg.pipeline.log_level)
    try:
        result = run(cfg, Path(output_dir), job={**(job or {}), "dir": output_dir})
    except LemmaConfigError as exc:
        log.error("%s", exc)
        sys.exit(2)
    if result.report is None:
        return None
    table = Path(output_dir) / "report.md"
    if table.exists():
        print(table.read_text())
    return result.report.get("headline")
