"""Structured-config schemas for every Hydra group, registered in the ConfigStore, and cross-field validation.

Each YAML option starts with `defaults: [base_<group>, _self_]`, so a misspelt key or a wrong type fails when Hydra
composes. Fields are split into *content* (what an artifact contains: they feed artifact keys) and *execution* (how it is
computed: concurrency, devices, batch splits, log level). Execution fields are listed per schema in `EXECUTION_FIELDS`;
`lemma.artifacts.content_slice` drops them before hashing, so `train=zero3` never re-buys teacher data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[1]


class LemmaConfigError(ValueError):
    """Every cross-field problem of a config, gathered into one message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))


# ----------------------------------------------------------------------------------------------------------- enums
class DataKind(StrEnum):
    arith = "arith"  # the built-in synthetic world
    files = "files"  # GSM8K / MATH train problems from JSONL or the HF hub
    release = "release"  # the released LEMMA SFT set: skips synthesis


class TeacherBackend(StrEnum):
    symbolic = "symbolic"
    openai = "openai"
    vllm = "vllm"
    hf = "hf"


class ErrorDistribution(StrEnum):
    analyzed = "analyzed"
    paper = "paper"
    uniform = "uniform"


class Strategy(StrEnum):
    fix = "fix"  # Fix & Continue
    fresh = "fresh"  # Fresh & Restart


class FreshVariant(StrEnum):
    reference_free = "reference_free"  # the paper's (Fig. 15)
    model_aware = "model_aware"  # the original code's: shows a correct student solution


class ModelKind(StrEnum):
    tiny = "tiny"  # built locally from the world's text
    hf = "hf"  # a hub name or a local checkpoint


class GenerationBackend(StrEnum):
    hf = "hf"
    vllm = "vllm"


class GraderMode(StrEnum):
    math_verify = "math_verify"
    qwen_compat = "qwen_compat"


# --------------------------------------------------------------------------------------------------------- schemas
@dataclass
class PathsConfig:
    root: str = "outputs"  # default output root, relative to the working directory
    artifacts: str = "${paths.root}/artifacts"
    cache: str = "${paths.root}/cache"
    shared_data: str = "${oc.env:LEMMA_SHARED_DATA," + str(REPO_ROOT.parent / "shared" / "data") + "}"


@dataclass
class DataConfig:
    name: str = "arith"
    kind: DataKind = DataKind.arith
    # arith world
    num_train: int = 800
    num_test: int = 200
    min_ops: int = 1
    max_ops: int = 2
    max_number: int = 9  # small enough for a tiny model to learn the arithmetic in minutes
    world_seed: int = 1234
    # GSM8K / MATH train files
    datasets: list[str] = field(default_factory=lambda: ["gsm8k", "math"])
    path: str = "${paths.shared_data}/train"  # folder holding <dataset>/train.jsonl
    source: str = "local"  # local | hub
    hub_names: dict[str, str] = field(default_factory=lambda: {"gsm8k": "openai/gsm8k", "math": "EleutherAI/hendrycks_math"})
    limit: Optional[int] = None  # first N problems of each dataset
    strip_calculator_annotations: bool = True  # GSM8K's <<48/2=24>> notes are not shown to teachers or trained on
    # released LEMMA data
    release_path: Optional[str] = None
    release_hub: str = "panzs19/LEMMA"


@dataclass
class TeacherConfig:
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({
        "base_url", "api_key_env", "max_concurrency", "rpm", "tpm", "max_retries", "request_timeout_s",
        "circuit_breaker_failures", "max_cost_usd", "price_input_per_mtok", "price_output_per_mtok",
        "tensor_parallel_size", "gpu_memory_utilization", "backoff_base_s", "backoff_max_s", "name"})
    name: str = "symbolic"
    backend: TeacherBackend = TeacherBackend.symbolic
    model: str = "symbolic-v1"
    base_url: Optional[str] = None
    api_key_env: str = "OPENAI_API_KEY"  # the NAME of the variable; the key itself is read at call time only
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 4096
    seed: Optional[int] = None
    prompts: str = "default"  # prompt set under lemma/prompts/
    max_reasks: int = 2  # re-asks after an unparseable reply
    datasets: list[str] = field(default_factory=lambda: ["arith"])  # datasets this teacher can serve
    # execution
    max_concurrency: int = 64
    rpm: Optional[int] = None
    tpm: Optional[int] = None
    max_retries: int = 6
    backoff_base_s: float = 1.0  # retry k waits uniform(0, min(backoff_max_s, base * 2**k)), never < Retry-After
    backoff_max_s: float = 60.0
    request_timeout_s: float = 120.0
    circuit_breaker_failures: int = 25
    max_cost_usd: Optional[float] = None
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9


@dataclass
class ErrorsConfig:
    name: str = "analyzed"
    distribution: ErrorDistribution = ErrorDistribution.analyzed
    weights: dict[str, float] = field(default_factory=dict)  # by type label (paper: the published percentages)
    seed: int = "${data_seed}"  # type: ignore[assignment]  # type draws
    per_problem: int = 2  # injected errors drawn per problem
    prior_weight: float = 1.0  # analyzed: pseudo-count weight of the dataset-level distribution per problem
    only_failed: bool = True  # inject only where the student failed at least once (the paper)


@dataclass
class CorrectionConfig:
    name: str = "mix"
    strategies: list[Strategy] = field(default_factory=lambda: [Strategy.fix, Strategy.fresh])
    fresh_variant: FreshVariant = FreshVariant.reference_free
    truncate: bool = True  # False = the paper's "w/o truncation" ablation: keep the whole flawed solution
    seed: int = "${data_seed}"  # type: ignore[assignment]  # model-aware Fresh & Restart picks
    smooth: list[Strategy] = field(default_factory=lambda: [Strategy.fix, Strategy.fresh])  # strategies smoothed


@dataclass
class TinyModelConfig:
    vocab_size: int = 512
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 3
    num_heads: int = 4
    max_position_embeddings: int = 1024
    warmup_steps: int = 300  # short warm-up SFT on correct solutions, so the student makes real errors
    warmup_lr: float = 3e-3
    warmup_batch: int = 32


@dataclass
class ModelConfig:
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({"attn_implementation"})
    name: str = "tiny"
    kind: ModelKind = ModelKind.tiny
    path: str = ""  # HF hub name or local checkpoint folder (kind=hf)
    prompt_format: str = "cot_meta_math"
    params_b: float = 0.0  # parameter count in billions, for the memory pre-flight (0 = measure)
    dtype: str = "float32"
    attn_implementation: Optional[str] = None
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)


@dataclass
class TrainConfig:
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({
        "backend", "zero_stage", "offload_optimizer", "offload_params", "nproc_per_node", "nnodes", "hostfile",
        "micro_batch", "save_every", "keep_checkpoints", "gradient_checkpointing", "log_every", "dataloader_workers",
        "gpu_memory_gb", "master_port", "name"})
    name: str = "cpu"
    lr: float = 3e-3
    epochs: float = 3.0
    max_steps: Optional[int] = 200  # the step budget; None = epochs decide
    global_batch: int = 32
    max_seq_len: int = 512
    warmup_ratio: float = 0.03
    scheduler: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    bf16: bool = False
    packing: bool = False
    seed: int = "${seed}"  # type: ignore[assignment]
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    # execution
    backend: str = "torch"  # torch | deepspeed
    zero_stage: int = 0
    offload_optimizer: bool = False
    offload_params: bool = False
    nproc_per_node: int = 1
    nnodes: int = 1
    hostfile: Optional[str] = None
    master_port: int = 29500
    micro_batch: Optional[int] = None  # None = derived from global_batch and world size
    save_every: int = 100
    keep_checkpoints: int = 2
    gradient_checkpointing: bool = False
    log_every: int = 10
    dataloader_workers: int = 0
    gpu_memory_gb: float = 80.0


@dataclass
class BenchmarkItem:
    name: str = "arith"
    role: str = "id"  # id | ood
    source: str = "file"  # builtin | file | hub
    path: str = ""
    format: str = "jsonl"  # jsonl | json
    question_fields: list[str] = field(default_factory=lambda: ["question"])
    gold_field: str = "answer"
    gold_kind: str = "plain"  # dataset name understood by lemma.grading.normalize_gold
    prompt_format: str = "cot_meta_math"
    shots: int = 0
    max_new_tokens: int = 1024
    version: str = "1"
    sha256: Optional[str] = None
    hub_name: Optional[str] = None
    hub_config: Optional[str] = None
    hub_split: str = "test"


@dataclass
class BenchmarkConfig:
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({"batch_size", "grader_workers", "grader_timeout_s"})
    name: str = "arith"
    items: dict[str, BenchmarkItem] = field(default_factory=dict)  # read as cfg.benchmark["items"]: `.items` is the dict method
    limit: Optional[int] = None  # first N items of each benchmark
    n_samples: int = 1  # >1 with temperature > 0 for maj@k / pass@k
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = "${seed}"  # type: ignore[assignment]
    grader: GraderMode = GraderMode.math_verify
    also_qwen_compat: bool = True  # grade twice and report disagreements
    max_new_tokens: Optional[int] = None  # overrides every item's budget when set
    error_analysis: bool = True  # teacher error types of wrong answers where the teacher serves the dataset (Figs. 6/8)
    batch_size: int = 32
    grader_workers: Optional[int] = None
    grader_timeout_s: float = 10.0


@dataclass
class SampleConfig:
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({"batch_size"})
    n: int = 4  # samples per train problem (the paper does not record n)
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 256
    shots: int = 0
    student: Optional[str] = None  # the student model's path; None = the base model of `model`
    seed: int = "${data_seed}"  # type: ignore[assignment]
    batch_size: int = 64


@dataclass
class BuildConfig:
    sources: list[str] = field(default_factory=lambda: ["self", "injected"])
    fraction: float = 1.0  # keep this share of the built set (data-scale curves)
    max_examples: Optional[int] = None  # cap, to match data sizes across arms
    match_size_to: Optional[list[str]] = None  # cap at the size the set would have from these sources alone
    dedup: bool = True
    decontaminate: bool = True  # drop rows whose question overlaps a benchmark question (13-gram)
    seed: int = "${data_seed}"  # type: ignore[assignment]  # mixing order


@dataclass
class GenerationConfig:
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({"backend", "tensor_parallel_size", "device", "gpu_memory_utilization"})
    backend: GenerationBackend = GenerationBackend.hf
    tensor_parallel_size: int = 1
    device: str = "auto"
    gpu_memory_utilization: float = 0.9


@dataclass
class PipelineConfig:
    build_missing: bool = True  # stage=X builds missing ancestors; False fails instead
    log_level: str = "INFO"


@dataclass
class LoggerConfig:
    kind: str = "none"  # none | wandb
    project: str = "lemma"
    entity: Optional[str] = None
    group: Optional[str] = None
    mode: Optional[str] = None  # online | offline; None = WANDB_MODE or online


@dataclass
class LemmaConfig:
    stage: str = "all"
    force: list[str] = field(default_factory=list)
    seed: int = 0  # the run seed: training and evaluation sampling (a `seeds` sweep reuses the synthetic data)
    data_seed: int = 0  # the synthesis seed: student sampling, error-type draws, mixing
    arms: list[str] = field(default_factory=lambda: ["base", "sft", "lemma"])
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


GROUP_SCHEMAS: dict[str, type] = {
    "data": DataConfig, "teacher": TeacherConfig, "errors": ErrorsConfig, "correction": CorrectionConfig,
    "model": ModelConfig, "train": TrainConfig, "benchmark": BenchmarkConfig, "logger": LoggerConfig,
}


def register_configs() -> None:
    """Put the schemas into Hydra's ConfigStore; must run before Hydra composes."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=LemmaConfig)
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group=group, name=f"base_{group}", node=schema)


# ------------------------------------------------------------------------------------------------------ validation
ARMS = ("base", "sft", "lemma")


def validate(cfg: DictConfig) -> None:
    """Collect every cross-field problem into one LemmaConfigError, before any stage runs."""
    from lemma import taxonomy
    from lemma.pipeline import STAGE_NAMES

    problems: list[str] = []
    if cfg.stage != "all" and cfg.stage not in STAGE_NAMES:
        problems.append(f"stage={cfg.stage!r} is not a stage; use one of: all, {', '.join(STAGE_NAMES)}")
    for name in cfg.force:
        if name not in STAGE_NAMES:
            problems.append(f"force: {name!r} is not a stage; use names from: {', '.join(STAGE_NAMES)}")
    for arm in cfg.arms:
        if arm not in ARMS:
            problems.append(f"arms: {arm!r} is not an arm; use a subset of {list(ARMS)}")
    problems += _teacher_problems(cfg)
    problems += _errors_problems(cfg, taxonomy)
    if not cfg.correction.strategies:
        problems.append("correction.strategies is empty: nothing would revise the flawed solutions; "
                        "use correction=mix, fix_only or fresh_only")
    for s in cfg.correction.smooth:
        if s not in cfg.correction.strategies:
            problems.append(f"correction.smooth lists {str(s)!r}, which correction.strategies does not produce")
    for src in cfg.build.sources:
        if src not in ("self", "injected"):
            problems.append(f"build.sources: {src!r} must be 'self' or 'injected'")
    if not cfg.build.sources:
        problems.append("build.sources is empty: the SFT set would be empty; use [self], [injected] or both")
    if not 0 < cfg.build.fraction <= 1:
        problems.append(f"build.fraction={cfg.build.fraction} must be in (0, 1]")
    if cfg.sample.n < 1:
        problems.append(f"sample.n={cfg.sample.n} must be at least 1")
    if cfg.benchmark.n_samples > 1 and cfg.benchmark.temperature <= 0:
        problems.append("benchmark.n_samples > 1 needs benchmark.temperature > 0 (greedy samples are identical)")
    if cfg.data.kind != DataKind.arith and cfg.model.kind == ModelKind.tiny:
        problems.append(f"model=tiny is built from the arith world's text and cannot learn data={cfg.data.name}; "
                        "use a real model (model=llama3_8b, ...) or data=arith")
    if any(item.source == "builtin" for item in cfg.benchmark["items"].values()) and cfg.data.kind != DataKind.arith:
        problems.append(f"benchmark={cfg.benchmark.name} is the arith world's test split and needs data=arith; "
                        "choose benchmark=paper (or gsm8k, math, ...) for real data")
    if cfg.logger.kind not in ("none", "wandb"):
        problems.append(f"logger.kind={cfg.logger.kind!r}: use logger=none or logger=wandb")
    if not cfg.benchmark["items"]:
        problems.append(f"benchmark={cfg.benchmark.name!r} defines no items")
    if cfg.data.kind == DataKind.files and cfg.data.limit is not None and cfg.data.limit < 1:
        problems.append(f"data.limit={cfg.data.limit} must be at least 1 (or null for all)")
    if problems:
        raise LemmaConfigError(problems)


def _teacher_problems(cfg: DictConfig) -> list[str]:
    t, d = cfg.teacher, cfg.data
    if d.kind == DataKind.release:
        return []
    served = set(t.datasets)
    wanted = {"arith"} if d.kind == DataKind.arith else set(d.datasets)
    missing = sorted(wanted - served)
    if not missing:
        return []
    if t.backend == TeacherBackend.symbolic:
        return [f"teacher=symbolic cannot serve data={d.name} ({', '.join(missing)}): it knows the computation of "
                "arith problems only and would label real solutions by guesswork; use an LLM teacher "
                "(teacher=openai, gpt4o, vllm or hf) or data=arith"]
    return [f"teacher={t.name} does not list dataset(s) {', '.join(missing)} in teacher.datasets"]


def _errors_problems(cfg: DictConfig, taxonomy: Any) -> list[str]:
    e = cfg.errors
    problems = []
    if e.per_problem < 1:
        problems.append(f"errors.per_problem={e.per_problem} must be at least 1")
    if e.prior_weight < 0:
        problems.append(f"errors.prior_weight={e.prior_weight} must be >= 0")
    for label, weight in e.weights.items():
        if taxonomy.parse_error_type(label) is None:
            problems.append(f"errors.weights.{label}: unknown error type; use one of "
                            f"{', '.join(t.value for t in taxonomy.ErrorType)}")
        if weight < 0:
            problems.append(f"errors.weights.{label}={weight} is negative; weights must be >= 0")
    if e.distribution == ErrorDistribution.paper:
        if not e.weights:
            problems.append("errors=paper needs errors.weights (the published distribution)")
        elif sum(w for w in e.weights.values() if w > 0) <= 0:
            problems.append("errors.weights are all zero; give at least one type a positive weight")
    return problems


def to_container(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # type: ignore[return-value]
