"""Memory pre-flight: will this model x ZeRO stage x offload x LoRA x batch fit `train.gpu_memory_gb` per GPU?

Users of peer projects hit OOM for 8B full fine-tuning under ZeRO-3 and host-RAM OOM with offload (DESIGN.md §9 b4).
The estimate follows the ZeRO paper (Rajbhandari et al. 2020): mixed-precision Adam keeps 2 bytes/param of bf16
weights, 2 of bf16 gradients and 12 of fp32 master weights and moments. Stage 1 partitions the 12 over the data
parallel ranks, stage 2 also the gradients, stage 3 also the weights; offload moves the optimizer (and, stage 3, the
weights) to host memory. Activations follow Korthikanti et al. 2022 with FlashAttention (34·s·b·h bytes per layer,
or 2·s·b·h per layer plus one layer's 34·s·b·h with gradient checkpointing), plus the logits (8 bytes per vocab
entry: bf16 logits, fp32 upcast and its gradient), communication buckets and a fixed CUDA context allowance.
It is an estimate for refusing hopeless configs early, not a promise that the rest fit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lemma.errors import LemmaError
from lemma.training.job import TrainJob, batch_plan

GB = 1e9
CONTEXT_GB = 3.0  # CUDA context, allocator fragmentation, kernels' workspace
HEADROOM = 0.95  # use at most this share of the card
BUCKET_BYTES = 2 * 2 * 500_000_000  # two bf16 buckets of 5e8 elements (deepspeed_config.BUCKET)

# (hidden, layers, intermediate, vocab) of the preset base models, from their config.json
SHAPES: dict[str, tuple[int, int, int, int]] = {
    "meta-llama/Meta-Llama-3-8B": (4096, 32, 14336, 128256),
    "meta-llama/Meta-Llama-3-70B": (8192, 80, 28672, 128256),
    "mistralai/Mistral-7B-v0.1": (4096, 32, 14336, 32000),
    "deepseek-ai/deepseek-math-7b-base": (4096, 30, 11008, 102400),
    "Qwen/Qwen2-Math-7B": (3584, 28, 18944, 152064),
}


class PreflightError(LemmaError, RuntimeError):
    """The config cannot fit; the message lists options that would."""


@dataclass(frozen=True)
class Setup:
    params_b: float
    shape: tuple[int, int, int, int]
    world_size: int
    zero_stage: int
    offload_optimizer: bool
    offload_params: bool
    lora: bool
    lora_r: int
    micro_batch: int
    max_seq_len: int
    gradient_checkpointing: bool
    bf16: bool


@dataclass(frozen=True)
class Estimate:
    weights_gb: float
    grads_gb: float
    optimizer_gb: float
    activations_gb: float
    overhead_gb: float
    host_gb: float  # offloaded optimizer/weights, per node

    @property
    def total_gb(self) -> float:
        return self.weights_gb + self.grads_gb + self.optimizer_gb + self.activations_gb + self.overhead_gb

    def describe(self) -> str:
        return (f"{self.total_gb:.1f} GB/GPU (weights {self.weights_gb:.1f}, gradients {self.grads_gb:.1f}, "
                f"optimizer {self.optimizer_gb:.1f}, activations {self.activations_gb:.1f}, overhead "
                f"{self.overhead_gb:.1f}; host {self.host_gb:.0f} GB)")


def shape_for(model_name: str, params_b: float) -> tuple[int, int, int, int]:
    """Known presets, else a Llama-like guess: params ~ 12·L·h² with h = 128·L."""
    if model_name in SHAPES:
        return SHAPES[model_name]
    layers = max(1, round((params_b * 1e9 / (12 * 128 ** 2)) ** (1 / 3)))
    return 128 * layers, layers, int(3.5 * 128 * layers), 128256


def lora_params(setup: Setup) -> float:
    """Trainable LoRA parameters on all linear layers: r·(in+out) per projection."""
    h, layers, inter, _ = setup.shape
    return setup.lora_r * layers * (4 * 2 * h + 3 * (h + inter))


def estimate(s: Setup) -> Estimate:
    psi, n = s.params_b * 1e9, s.world_size
    w_bytes, g_bytes, o_bytes = (2, 2, 12) if s.bf16 else (4, 4, 8)
    trainable = lora_params(s) if s.lora else psi
    weights = (2 if s.lora else w_bytes) * psi  # LoRA: frozen bf16 base weights
    if s.lora:
        weights += w_bytes * trainable
    weights /= n if s.zero_stage == 3 else 1
    if s.offload_params:
        weights = 2 * 1e9  # stage3_max_live_parameters of working set
    grads = g_bytes * trainable / (n if s.zero_stage >= 2 else 1)
    optim = o_bytes * trainable / (n if s.zero_stage >= 1 else 1)
    host = 0.0
    if s.offload_optimizer:
        host += o_bytes * trainable + 4 * trainable / (n if s.zero_stage >= 2 else 1)
        optim, grads = 0.0, min(grads, BUCKET_BYTES)
    if s.offload_params:
        host += 2 * psi
    h, layers, _, vocab = s.shape
    tokens = s.micro_batch * s.max_seq_len
    per_layer = 34 * tokens * h
    acts = (2 * tokens * h * layers + per_layer) if s.gradient_checkpointing else per_layer * layers
    acts += 8 * tokens * vocab
    overhead = CONTEXT_GB * GB + (BUCKET_BYTES if s.zero_stage >= 1 else 0)
    return Estimate(weights / GB, grads / GB, optim / GB, acts / GB, overhead / GB, host / GB)


def setup_from_job(job: TrainJob, params_b: float, model_name: str) -> Setup:
    return Setup(params_b=params_b, shape=shape_for(model_name, params_b), world_size=job.world_size,
                 zero_stage=job.train.zero_stage if job.train.backend == "deepspeed" else 0,
                 offload_optimizer=job.train.offload_optimizer, offload_params=job.train.offload_params, lora=job.train.lora,
                 lora_r=job.train.lora_r, micro_batch=batch_plan(job)[0], max_seq_len=job.train.max_seq_len,
                 gradient_checkpointing=job.train.gradient_checkpointing, bf16=job.train.bf16)


# Suggested as key overrides, not `train=` options: an option would also reset the recipe (lr, epochs, batch) the
# user composed, e.g. train=paper's; keys change only what the memory needs.
DEEPSPEED = "train.backend=deepspeed "
ALTERNATIVES: tuple[tuple[str, dict], ...] = (
    (DEEPSPEED + "train.zero_stage=2", {"zero_stage": 2}),
    (DEEPSPEED + "train.zero_stage=3", {"zero_stage": 3}),
    (DEEPSPEED + "train.zero_stage=3 train.offload_optimizer=true train.offload_params=true (optimizer and weights "
     "on the CPU; train=paper_offload is the paper's recipe so)", {"zero_stage": 3, "offload_optimizer": True,
                                                                  "offload_params": True}),
    ("train.gradient_checkpointing=true", {"gradient_checkpointing": True}),
    ("train.lora=true", {"lora": True}),
    (DEEPSPEED + "train.zero_stage=3 train.lora=true", {"zero_stage": 3, "lora": True}),
)


def suggestions(s: Setup, limit_gb: float) -> list[str]:
    out = []
    for name, change in ALTERNATIVES:
        alt = replace(s, **change)
        if alt != s and alt.zero_stage >= s.zero_stage and estimate(alt).total_gb <= limit_gb * HEADROOM:
            out.append(f"{name}: {estimate(alt).describe()}")
    return out


def check(job: TrainJob, params_b: float, model_name: str) -> Estimate | None:
    """Raise PreflightError with suggestions when the job cannot fit; None when there is nothing to estimate."""
    if params_b <= 0:
        return None  # the tiny model: nothing to estimate
    setup = setup_from_job(job, params_b, model_name)
    est = estimate(setup)
    if est.total_gb <= job.train.gpu_memory_gb * HEADROOM:
        return est
    options = suggestions(setup, job.train.gpu_memory_gb)
    hint = ("options that fit:\n    " + "\n    ".join(options)) if options else \
        "no single change fits; use more GPUs (train.nproc_per_node, train.nnodes) or a smaller model"
    raise PreflightError(f"{model_name} ({params_b:g}B) with ZeRO-{setup.zero_stage} on {setup.world_size} GPUs needs "
                         f"about {est.describe()}, more than train.gpu_memory_gb={job.train.gpu_memory_gb:g}; {hint}")
