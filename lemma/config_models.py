"""Schemas of the groups about the models and the run: model (with the tiny student), train, benchmark, generation,
pipeline and logger. Re-exported by lemma.config, which registers them; `EXECUTION_FIELDS` as in lemma.config_data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Optional


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


class TokenizerKind(StrEnum):
    auto = "auto"  # closed for a world with a closed vocabulary (relations), else bpe
    closed = "closed"  # one token per word of a world with known templates (lemma.model.vocab): relations
    bpe = "bpe"  # byte-level BPE learnt from the train problems' text: arith


class TrainBackend(StrEnum):
    torch = "torch"  # one process, or torch.distributed DDP
    deepspeed = "deepspeed"  # ZeRO stages and offload (train=zero2, zero3, zero3_offload)


class BenchmarkRole(StrEnum):
    id = "id"  # in-distribution: the average_id column
    ood = "ood"  # out-of-distribution: average_ood


class BenchmarkSource(StrEnum):
    builtin = "builtin"  # a built-in world's test split, from the problems artifact
    file = "file"  # a JSON/JSONL file, pinned by sha256
    hub = "hub"  # a Hugging Face dataset (hub_name, hub_configs, hub_split)


class BuiltinSplit(StrEnum):
    test = "test"  # reported numbers
    dev = "dev"  # choices only (a learning rate, a share): never a reported number


class BenchmarkFormat(StrEnum):
    jsonl = "jsonl"
    json = "json"


class LoggerKind(StrEnum):
    none = "none"
    wandb = "wandb"


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
    warmup: WarmupTrainConfig = field(default_factory=lambda: WarmupTrainConfig())  # SFT on reference solutions
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
    backend: TrainBackend = TrainBackend.torch
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
class WarmupTrainConfig:
    """The tiny model's warm-up on reference solutions, so the student makes real errors: the training content,
    named as in `train`, defaults taken from TrainConfig (one set). Execution (processes, checkpoint cadence) comes
    from `train=`; seed from model.tiny.init_seed, max_seq_len from model.tiny.max_position_embeddings."""
    max_steps: int = 300
    lr: float = TrainConfig.lr
    global_batch: int = TrainConfig.global_batch
    warmup_ratio: float = TrainConfig.warmup_ratio
    scheduler: str = TrainConfig.scheduler
    weight_decay: float = TrainConfig.weight_decay
    max_grad_norm: float = TrainConfig.max_grad_norm


@dataclass
class BenchmarkItem:
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({"path"})  # the content is pinned by sha256
    name: str = "arith"
    role: BenchmarkRole = BenchmarkRole.id
    source: BenchmarkSource = BenchmarkSource.file
    path: str = ""
    format: BenchmarkFormat = BenchmarkFormat.jsonl
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
    split: BuiltinSplit = BuiltinSplit.test  # source=builtin: which of the world's held-out splits


@dataclass
class BenchmarkConfig:
    # reference_results is presentation (published numbers shown beside ours), not what evaluation computes
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset({"batch_size", "grader_workers", "grader_timeout_s",
                                                            "reference_results"})
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
    # published rows shown beside ours in the report, never mixed in: title -> benchmark (or "average") -> accuracy
    reference_results: dict[str, dict[str, float]] = field(default_factory=dict)


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
    kind: LoggerKind = LoggerKind.none
    project: str = "lemma"
    entity: Optional[str] = None
    group: Optional[str] = None
    mode: Optional[str] = None  # online | offline; None = WANDB_MODE or online
