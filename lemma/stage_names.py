"""The names of the stage graph: its stages in graph order and its arms, as the enums the config schema checks.

One module with no lemma imports: the config schema (lemma.config: `stage`, `force`, `arms`), `--help` (lemma.help)
and the pre-flight use these without importing the pipeline, which would pull in the stage graph and close an import
cycle. Hydra refuses any other value when it composes, naming the key and the allowed values.
"""

from __future__ import annotations

from enum import StrEnum


class StageName(StrEnum):
    """A stage of lemma.stages, in graph order (`force=[...]` takes these)."""
    problems = "problems"
    base = "base"
    sample = "sample"
    classify = "classify"
    inject = "inject"
    locate = "locate"
    correct = "correct"
    smooth = "smooth"
    build = "build"
    train = "train"
    evaluate = "evaluate"
    report = "report"


# What `stage=` selects: every node (`all`), or one stage's nodes and their ancestors. Built from StageName so the two
# cannot drift; `module` keeps its members picklable (Hydra's launchers pickle the config).
StageTarget = StrEnum("StageTarget", {"all": "all", **{s.name: s.value for s in StageName}}, module=__name__)


class Arm(StrEnum):
    """A row of the results table: the model before fine-tuning and the three trained arms (lemma.arms)."""
    base = "base"
    sft = "sft"
    clean = "clean"
    lemma = "lemma"


STAGE_NAMES: tuple[str, ...] = tuple(s.value for s in StageName)
