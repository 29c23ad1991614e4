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

from lemma.errors import LemmaError

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO_ROOT / "data"  # the benchmark and train files the project ships (data/SOURCES.md)


class LemmaConfigError(LemmaError, ValueError):
    """Every problem the pre-flight finds (config, files, environment), gathered into one message."""

    exit_code = 2
    before_any_work = True

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))


# ----------------------------------------------------------------------------------------------------------- enums
class DataKind(StrEnum):
    relations = "relations"  # the built-in default world: quantities linked by relations (lemma.world.relations)
    arith = "arith"  # the built-in arithmetic world (lemma.world.arith)
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
    auto = "auto"  # vllm where CUDA and vLLM are present, else hf (lemma.generation.choose_backend)
    hf = "hf"
    vllm = "vllm"


class GraderMode(StrEnum):
    math_verify = "math_verify"
    qwen_compat = "qwen_compat"


# --------------------------------------------------------------------------------------------------------- schemas
# The shipped train copies (data/SOURCES.md) and the hub's layout of the same sets: EleutherAI/hendrycks_math has one
# config per subject and no default, so MATH is the concatenation of all seven.
TRAIN_SHA256 = {"gsm8k": "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
                "math": "63fba1c70fb2a4c082607913a83828c1e3155f0b6f52ab21ebccd2731d6c875d"}
MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
                 "prealgebra", "precalculus")
TRAIN_HUB_CONFIGS = {"gsm8k": ["main"], "math": list(MATH_SUBJECTS)}

@dataclass
class PathsConfig:
    root: str = "outputs"  # default output root, relative to the working directory
    artifacts: str = "${paths.root}/artifacts"
    cache: str = "${paths.root}/cache"
    data: str = str(DATA_ROOT)  # the project's own data/ folder, found from the package, never a sibling folder


BUILTIN_WORLDS = frozenset({DataKind.relations, DataKind.arith})  # generated here, checked by the symbolic teacher


class RelationPhrasing(StrEnum):
    formula = "formula"  # "Mia has Tom + 2 apples.": the relation as a solution line writes it
    words = "words"  # "Mia has 2 more apples than Tom."


@dataclass
class RelationsWorldConfig:
    """The shape of `data=relations` problems (lemma.world.relations.WorldSpec)."""
    min_depth: int = 2  # longest chain of relations below the asked person
    max_depth: int = 4
    min_people: int = 3  # people the answer needs
    max_people: int = 6
    max_distractors: int = 2  # people nobody needs
    max_leaf: int = 20  # stated values are 1..max_leaf
    max_k: int = 9  # "k more" / "k fewer" amounts are 1..max_k
    max_value: int = 60  # every value of a problem stays within 0..max_value
    phrasing: RelationPhrasing = RelationPhrasing.words  # how the question states a relation


@dataclass
class DataConfig:
    # where the train files live is execution: their content is pinned by `sha256`, so moving the clone keeps keys
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({"path"})
    name: str = "arith"
    kind: DataKind = DataKind.arith
    # built-in worlds (relations, arith)
    num_train: int = 800
    num_dev: int = 0  # a dev split for choices (learning rate, the warm-up gate); never used for reported numbers
    num_test: int = 200
    world: RelationsWorldConfig = field(default_factory=RelationsWorldConfig)
    min_ops: int = 1
    max_ops: int = 2
    max_number: int = 9  # small enough for a tiny model to learn the arithmetic in minutes
    world_seed: int = "${data_seed}"  # type: ignore[assignment]  # which problems a built-in world draws
    # GSM8K / MATH train files
    datasets: list[str] = field(default_factory=lambda: ["gsm8k", "math"])
    path: str = "${paths.data}/train"  # folder holding <dataset>/train.jsonl
    sha256: dict[str, str] = field(default_factory=lambda: dict(TRAIN_SHA256))  # pinned copies, data/SOURCES.md
    source: str = "local"  # local | hub
    hub_names: dict[str, str] = field(default_factory=lambda: {"gsm8k": "openai/gsm8k", "math": "EleutherAI/hendrycks_math"})
    hub_configs: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in TRAIN_HUB_CONFIGS.items()})
    hub_split: str = "train"
    limit: Optional[int] = None  # first N problems of each dataset
    strip_calculator_annotations: bool = True  # GSM8K's <<48/2=24>> notes are not shown to teachers or trained on
    # released LEMMA data
    release_path: Optional[str] = None  # .json (array or lines), .jsonl or .parquet with instruction/input/output
    release_hub: str = "panzs19/LEMMA"
    release_sha256: Optional[str] = None  # pins the release_path file; the pre-flight refuses another copy
    release_strip_template: bool = False  # instructions already in the prompt template: take the question out


@dataclass
class TeacherConfig:
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({
        "base_url", "api_key_env", "max_concurrency", "rpm", "tpm", "max_retries", "request_timeout_s",
        "circuit_breaker_failures", "max_cost_usd", "dry_run", "price_input_per_mtok", "price_output_per_mtok",
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
    max_cost_usd: Optional[float] = None  # caps all spend through this cache (reruns and sweep jobs included)
    dry_run: bool = False  # count and price the requests still to send, send nothing (lemma.teacher.dry_run)
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


class TokenizerKind(StrEnum):
    auto = "auto"  # closed for a world with a closed vocabulary (relations), else bpe
    closed = "closed"  # one token per word of a world with known templates (lemma.model.vocab): relations
    bpe = "bpe"  # byte-level BPE learnt from the train problems' text: arith


@dataclass
class WarmupGateConfig:
    """Bounds of the warm-up gate (lemma.model.gate), measured greedily on the dev split."""
    min_acc: float = 40.0
    max_acc: float = 70.0
    min_lookup_share: float = 0.5  # share of errors of the lookup/ordering kind
    max_new_tokens: int = 200  # greedy budget per dev answer


@dataclass
class TinyModelConfig:
    tokenizer: TokenizerKind = TokenizerKind.auto
    vocab_size: int = 512  # bpe only; a closed vocabulary has the size of the world's words
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 4
    num_heads: int = 4
    max_position_embeddings: int = 256
    init_seed: int = "${seed}"  # type: ignore[assignment]  # initial weights: a seed sweep varies them too
    warmup_steps: int = 300  # warm-up SFT on reference solutions, so the student makes real errors
    warmup_lr: float = 3e-3
    warmup_batch: int = 32
    gate: WarmupGateConfig = field(default_factory=WarmupGateConfig)


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
    group_by_length: bool = True  # batches of similar length (less padding); matched arms turn it off (same slots)
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
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({"path"})  # the content is pinned by sha256
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
    hub_configs: list[str] = field(default_factory=list)  # concatenated in order; empty = the dataset's default
    hub_split: str = "test"  # "train+test" concatenates splits


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
    also_sampled_temperature: Optional[float] = None  # also pass@1 of one sample at this temperature, beside greedy
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
    max_new_tokens: int = 1024  # the paper's evaluation budget (METHOD.md §7): MATH solutions cut short are not errors
    shots: int = 0  # GSM8K demos before each question (lemma.demos, as evaluation's few-shot prompts)
    student: Optional[str] = None  # the student model's path; None = the base model of `model`
    limit: Optional[int] = None  # sample only the first N train problems (None: all)
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
    # Matched arms (lemma.arms): every arm trains train.max_steps x train.global_batch rows, one pass, the same
    # reference rows in the same slots; lemma puts trajectories in this share of the slots, clean their error-free
    # twins, sft references. None = the paper's sets: lemma trains on the trajectories alone, sft on the references.
    trajectory_share: Optional[float] = None
    mask_error_lines: bool = False  # the wrong step of a trajectory is context, not a target (ablation)


@dataclass
class GenerationConfig:
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({"backend", "tensor_parallel_size", "device", "gpu_memory_utilization"})
    backend: GenerationBackend = GenerationBackend.auto
    tensor_parallel_size: int = 1
    device: str = "auto"
    gpu_memory_utilization: float = 0.9


@dataclass
class PipelineConfig:
    build_missing: bool = True  # stage=X builds missing ancestors; False fails instead
    log_level: str = "INFO"
    progress_interval_s: float = 30.0  # one progress line per interval in the log when not on a terminal


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
    seed: int = 0  # the run seed: training and evaluation sampling, and by default the data and initial weights
    data_seed: int = "${seed}"  # type: ignore[assignment]  # the data seed: the world's problems, student sampling,
    # error-type draws, mixing; follows `seed` unless set, so `seed=1` varies data, initial weights and training
    arms: list[str] = field(default_factory=lambda: ["base", "sft", "clean", "lemma"])
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


# ------------------------------------------------------------------------------------------------------ validation
from lemma.arms import ARMS  # noqa: E402  (base, sft, clean, lemma)


def validate(cfg: DictConfig) -> None:
    """Collect every cross-field problem and out-of-range value into one LemmaConfigError, before any stage runs."""
    from lemma import taxonomy
    from lemma.pipeline import STAGE_NAMES
    from lemma.ranges import range_problems

    problems: list[str] = range_problems(cfg)
    if cfg.stage != "all" and cfg.stage not in STAGE_NAMES:
        problems.append(f"stage={cfg.stage!r} is not a stage; use one of: all, {', '.join(STAGE_NAMES)}")
    for name in cfg.force:
        if name not in STAGE_NAMES:
            problems.append(f"force: {name!r} is not a stage; use names from: {', '.join(STAGE_NAMES)}")
    for arm in cfg.arms:
        if arm not in ARMS:
            problems.append(f"arms: {arm!r} is not an arm; use a subset of {list(ARMS)}")
    problems += _teacher_problems(cfg)
    problems += _release_problems(cfg)
    problems += _sample_problems(cfg)
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
    if cfg.benchmark.n_samples > 1 and cfg.benchmark.temperature <= 0:
        problems.append("benchmark.n_samples > 1 needs benchmark.temperature > 0 (greedy samples are identical)")
    problems += _world_problems(cfg)
    if cfg.logger.kind not in ("none", "wandb"):
        problems.append(f"logger.kind={cfg.logger.kind!r}: use logger=none or logger=wandb")
    if not cfg.benchmark["items"]:
        problems.append(f"benchmark={cfg.benchmark.name!r} defines no items")
    if cfg.data.kind != DataKind.files and cfg.data.limit is not None:
        problems.append(f"data.limit={cfg.data.limit} has no meaning for data={cfg.data.name} (only the GSM8K/MATH "
                        "files are cut to their first N problems); "
                        + ("set the world's size with data.num_train instead" if cfg.data.kind in BUILTIN_WORLDS
                           else "remove it") + ", or use data=gsm8k_math")
    if problems:
        raise LemmaConfigError(problems)


def _release_problems(cfg: DictConfig) -> list[str]:
    """data=lemma_release has SFT rows but no train problems: arms that need them are refused before any work."""
    if cfg.data.kind != DataKind.release:
        return []
    needs_problems = {"sft": "trains on the train problems' reference solutions",
                      "clean": "trains on error-free twins of synthesised trajectories, which a release does not hold"}
    bad = [arm for arm in cfg.arms if arm in needs_problems]
    if not bad:
        return []
    keep = [arm for arm in cfg.arms if arm not in needs_problems]
    return [f"arms: data=lemma_release holds the released LEMMA rows only, no train problems, and the {arm} arm "
            f"{needs_problems[arm]}; run with arms=[{','.join(keep) or 'base,lemma'}] (the released set trains "
            "the lemma arm)" for arm in bad]


def _sample_problems(cfg: DictConfig) -> list[str]:
    from lemma.demos import load_demos

    available = len(load_demos())
    if cfg.sample.shots > available:
        return [f"sample.shots={cfg.sample.shots}, but the GSM8K demo set (lemma/assets/gsm8k_demos.json) holds "
                f"{available}; use sample.shots between 0 and {available}"]
    return []


def _world_problems(cfg: DictConfig) -> list[str]:
    """The tiny model, the built-in test splits and matched arms only make sense with what they were built for."""
    problems = []
    world = cfg.data.kind in BUILTIN_WORLDS
    if not world and cfg.model.kind == ModelKind.tiny:
        problems.append(f"model=tiny is built from a built-in world's text and cannot learn data={cfg.data.name}; "
                        "use a real model (model=llama3_8b, ...) or data=relations")
    if cfg.model.kind == ModelKind.tiny and cfg.model.tiny.tokenizer == TokenizerKind.closed \
            and cfg.data.kind != DataKind.relations:  # auto picks bpe there
        problems.append(f"model.tiny.tokenizer=closed knows the words of data=relations only, not data={cfg.data.name}; "
                        "use model.tiny.tokenizer=bpe")
    builtin = [name for name, item in cfg.benchmark["items"].items() if item.source == "builtin"]
    if builtin and not world:
        problems.append(f"benchmark={cfg.benchmark.name} is a built-in world's test split and needs a built-in world "
                        "(data=relations or data=arith); choose benchmark=paper (or gsm8k, math, ...) for real data")
    for name in builtin:
        kind = str(cfg.benchmark["items"][name].gold_kind)
        if world and kind != str(cfg.data.kind):
            problems.append(f"benchmark.items.{name} is the {kind} world's test split, but data={cfg.data.name}; "
                            f"use benchmark={cfg.data.name}")
    b, t = cfg.build, cfg.train
    if b.trajectory_share is not None:
        if not 0 < b.trajectory_share < 1:
            problems.append(f"build.trajectory_share={b.trajectory_share} must be in (0, 1), or null for the paper's sets")
        if t.max_steps is None:
            problems.append("build.trajectory_share (matched arms) needs train.max_steps: the arms train exactly "
                            "max_steps x global_batch rows")
        if t.group_by_length or t.packing:
            problems.append("build.trajectory_share (matched arms) needs train.group_by_length=false and "
                            "train.packing=false, so that every arm's batches hold the same slots")
    return problems


def _teacher_problems(cfg: DictConfig) -> list[str]:
    t, d = cfg.teacher, cfg.data
    if d.kind == DataKind.release:
        return []
    served = set(t.datasets)
    wanted = {str(d.kind)} if d.kind in BUILTIN_WORLDS else set(d.datasets)
    missing = sorted(wanted - served)
    if not missing:
        return []
    if t.backend == TeacherBackend.symbolic:
        return [f"teacher=symbolic cannot serve data={d.name} ({', '.join(missing)}): it knows the computations of "
                "the built-in worlds only and would label real solutions by guesswork; use an LLM teacher "
                "(teacher=openai, gpt4o, vllm or hf) or data=relations"]
    return [f"teacher={t.name} does not list dataset(s) {', '.join(missing)} in teacher.datasets"]


def _errors_problems(cfg: DictConfig, taxonomy: Any) -> list[str]:
    e = cfg.errors
    problems = []
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
