"""The config: structured schemas for every Hydra group, registered in the ConfigStore, and their validation.

Each YAML option starts with `defaults: [base_<group>, _self_]`, so a misspelt key, a wrong type or a value outside a
closed choice (an enum field: stages, arms, backends, sources, roles) fails when Hydra composes, naming the key and
the allowed values. Fields are split into *content* (what an artifact contains: they feed artifact keys) and
*execution* (how it is computed: concurrency, devices, batch splits, log level). Execution fields are listed per schema
in `EXECUTION_FIELDS`; `lemma.artifacts.content_slice` drops them before hashing, so `train=zero3` never re-buys
teacher data. An enum field keys as its string value, the same string the YAML option writes.

The group schemas live in lemma.config_data (what decides the training data) and lemma.config_models (models,
training, evaluation, execution); cross-field validation in lemma.config_checks. This module holds the root schema
and the registration, and re-exports the rest, so `from lemma.config import ...` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore

from lemma.config_checks import LemmaConfigError, validate
from lemma.config_data import (BUILTIN_WORLDS, DATA_ROOT, MATH_SUBJECTS, REPO_ROOT, TRAIN_HUB_CONFIGS, TRAIN_SHA256,
                               BuildConfig, BuildSource, CorrectionConfig, DataConfig, DataKind, DataSource,
                               ErrorDistribution, ErrorsConfig, FreshVariant, PathsConfig, RelationPhrasing,
                               RelationsWorldConfig, SampleConfig, Strategy, TeacherBackend, TeacherConfig)
from lemma.config_models import (BenchmarkConfig, BenchmarkFormat, BenchmarkItem, BenchmarkRole, BenchmarkSource,
                                 GenerationBackend, GenerationConfig, GraderMode, LoggerConfig, LoggerKind,
                                 ModelConfig, ModelKind, PipelineConfig, TinyModelConfig, TokenizerKind, TrainBackend,
                                 TrainConfig, WarmupGateConfig)
from lemma.stage_names import Arm, StageName, StageTarget

__all__ = [
    "BUILTIN_WORLDS", "DATA_ROOT", "GROUP_SCHEMAS", "MATH_SUBJECTS", "REPO_ROOT", "TRAIN_HUB_CONFIGS", "TRAIN_SHA256",
    "Arm", "BenchmarkConfig", "BenchmarkFormat", "BenchmarkItem", "BenchmarkRole", "BenchmarkSource", "BuildConfig",
    "BuildSource", "CorrectionConfig", "DataConfig", "DataKind", "DataSource", "ErrorDistribution", "ErrorsConfig",
    "FreshVariant", "GenerationBackend", "GenerationConfig", "GraderMode", "LemmaConfig", "LemmaConfigError",
    "LoggerConfig", "LoggerKind", "ModelConfig", "ModelKind", "PathsConfig", "PipelineConfig", "RelationPhrasing",
    "RelationsWorldConfig", "SampleConfig", "StageName", "StageTarget", "Strategy", "TeacherBackend", "TeacherConfig",
    "TinyModelConfig", "TokenizerKind", "TrainBackend", "TrainConfig", "WarmupGateConfig", "register_configs",
    "validate",
]


@dataclass
class LemmaConfig:
    stage: StageTarget = StageTarget.all  # all, or one StageName (its nodes and their ancestors)
    force: list[StageName] = field(default_factory=list)  # rebuild these stages and everything below them
    seed: int = 0  # the run seed: training and evaluation sampling, and by default the data and initial weights
    data_seed: int = "${seed}"  # type: ignore[assignment]  # the data seed: the world's problems, student sampling,
    # error-type draws, mixing; follows `seed` unless set, so `seed=1` varies data, initial weights and training
    arms: list[Arm] = field(default_factory=lambda: list(Arm))
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    errors: ErrorsConfig = field(default_factory=ErrorsConfig)
    correction: CorrectionConfig = field(default_factory=CorrectionConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    build: BuildConfig = field(default_factory=BuildConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    experiment: Optional[Any] = None
    variant: Optional[str] = None  # the toy-science arm this run is (conf/variant/*.yaml sets it; None otherwise)
    # a sweep's published rows, by the override that makes an arm reproduce one: "correction=fix_only" ->
    # {"title": ..., "average": ...}; shown in the sweep summary, never mixed in (sweeps/ablate_*.yaml)
    reference_results: dict[str, Any] = field(default_factory=dict)


GROUP_SCHEMAS: dict[str, type] = {
    "data": DataConfig, "teacher": TeacherConfig, "errors": ErrorsConfig, "correction": CorrectionConfig,
    "model": ModelConfig, "train": TrainConfig, "benchmark": BenchmarkConfig, "logger": LoggerConfig,
    "build": BuildConfig,
}


def register_configs() -> None:
    """Put the schemas into Hydra's ConfigStore; must run before Hydra composes."""
    from lemma.help import register_resolver
    from lemma.training import slurm

    register_resolver()  # `--help` lists the groups' YAML options, not the schemas (lemma.help)
    slurm.register_resolver()  # SLURM host tasks get their own Hydra run folder
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=LemmaConfig)
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group=group, name=f"base_{group}", node=schema)
