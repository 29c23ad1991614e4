"""The pipeline's stage names, in graph order: one module with no lemma imports.

The config validator (lemma.config_checks), `--help` (lemma.help) and the pre-flight check names against this tuple
without importing the pipeline, which would pull in the stage graph and close an import cycle.
"""

from __future__ import annotations

STAGE_NAMES = ("problems", "base", "sample", "classify", "inject", "locate", "correct", "smooth", "build", "train",
               "evaluate", "report")
