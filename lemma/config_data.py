"""Schemas of the groups that decide the training data: paths, data (built-in worlds, GSM8K/MATH files, the LEMMA
release), teacher, errors, correction, sample and build. Re-exported by lemma.config, which registers them.

Fields are *content* (what an artifact contains: they feed artifact keys) or *execution* (how it is computed); each
schema lists its execution fields in `EXECUTION_FIELDS`, which lemma.artifacts.content_slice drops before hashing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Optional

from lemma.config_models import BenchmarkConfig
from lemma.strategies import Strategy  # noqa: F401 - re-exported: the schema's correction.strategies

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO_ROOT / "data"  # the benchmark and train files the project ships (data/SOURCES.md)


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


class FreshVariant(StrEnum):
    reference_free = "reference_free"  # the paper's (Fig. 15)
    model_aware = "model_aware"  # the original code's: shows a correct student solution


class DataSource(StrEnum):
    local = "local"  # the shipped copies under data/train, pinned by data.sha256
    hub = "hub"  # data.hub_names on the Hugging Face hub


class BuildSource(StrEnum):
    self = "self"  # the student's own failed samples, corrected
    injected = "injected"  # injected errors, corrected


class LemmaBudget(StrEnum):
    """What the lemma arm is matched on (lemma.arms): the same optimizer steps as sft and clean, or the same number
    of clean solutions seen (more steps, since trajectories take some of the rows)."""
    steps = "steps"
    clean_solutions = "clean_solutions"


class RelationPhrasing(StrEnum):
    formula = "formula"  # "Mia has Tom + 2 apples.": the relation as a solution line writes it
    words = "words"  # "Mia has 2 more apples than Tom."


BUILTIN_WORLDS = frozenset({DataKind.relations, DataKind.arith})  # generated here, checked by the symbolic teacher

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
    source: DataSource = DataSource.local
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


def no_targets() -> BenchmarkConfig:
    """An empty decontamination set. Its seed follows data_seed (decontamination draws nothing), so the run seed never
    enters the build key."""
    return BenchmarkConfig(name="none", seed="${data_seed}")  # type: ignore[arg-type]


@dataclass
class BuildConfig:
    sources: list[BuildSource] = field(default_factory=lambda: [BuildSource.self, BuildSource.injected])
    fraction: float = 1.0  # keep this share of the built set (data-scale curves)
    max_examples: Optional[int] = None  # cap, to match data sizes across arms
    match_size_to: Optional[list[BuildSource]] = None  # cap at the size the set would have from these sources alone
    dedup: bool = True
    decontaminate: bool = True  # drop rows whose question overlaps a benchmark question (13-gram)
    # What real data is decontaminated against (built-in worlds: their own test split), composed by Hydra from
    # conf/benchmark options (conf/build/decontaminate_against/all.yaml): in the key, so a target's sha256 moves it.
    decontaminate_against: BenchmarkConfig = field(default_factory=no_targets)
    seed: int = "${data_seed}"  # type: ignore[assignment]  # mixing order
    # Matched arms (lemma.arms): every arm trains train.max_steps x train.global_batch rows, one pass, the same
    # reference rows in the same slots; lemma puts trajectories in this share of the slots, clean their error-free
    # twins, sft references. None = the paper's sets: lemma trains on the trajectories alone, sft on the references.
    trajectory_share: Optional[float] = None
    mask_error_lines: bool = False  # the wrong step of a trajectory is context, not a target (ablation)
    lemma_budget: LemmaBudget = LemmaBudget.steps  # matched arms: lemma trains as many steps, or as many clean solutions
