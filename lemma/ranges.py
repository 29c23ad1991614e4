"""Allowed ranges of every numeric config field, as one table: `"group.field": rule`.

A new numeric field gets its range here in one line (tests/unit/test_ranges.py fails while a numeric field of the
schemas has none, so a field cannot be added unchecked). Rules are checked by the pre-flight before any stage runs,
and every violation becomes one line of the run's `LemmaConfigError`, naming the key, the value and what is allowed.
A null value is never checked: for Optional fields null means "off" or "all" (no limit, no budget, no cap).
`*` in a key matches every entry of a dict field (`benchmark.items.*.shots`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf


@dataclass(frozen=True)
class Rule:
    """`low <= value <= high` (strict where `*_open`), with a hint appended to the message."""
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    hint: str = ""

    def allows(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        if self.high == math.inf:
            text = f"> {_num(self.low)}" if self.low_open else f"at least {_num(self.low)}"
        else:
            text = (f"in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}"
                    f"{')' if self.high_open else ']'}")
        return f"must be {text}" + (f" ({self.hint})" if self.hint else "")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def at_least(low: float, hint: str = "") -> Rule:
    return Rule(low=low, hint=hint)


def positive(hint: str = "") -> Rule:
    return Rule(low=0, low_open=True, hint=hint)


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False, hint: str = "") -> Rule:
    return Rule(low, high, low_open, high_open, hint)


COUNT = at_least(1)
NON_NEGATIVE = at_least(0)
SEED = at_least(0, "seeds are non-negative integers")
SHARE = between(0, 1, low_open=True)  # fractions of something that must not be empty
TEMPERATURE = between(0, 2, hint="0 is greedy")
TOP_P = between(0, 1, low_open=True)
OR_NULL = "or null for none"

RANGES: dict[str, Rule] = {
    # run
    "seed": SEED,
    "data_seed": SEED,
    # data: the built-in worlds (relations, arith)
    "data.num_train": COUNT,
    "data.num_dev": at_least(0, "0 = no dev split"),
    "data.num_test": COUNT,
    "data.world.min_depth": COUNT,
    "data.world.max_depth": COUNT,
    "data.world.min_people": COUNT,
    "data.world.max_people": COUNT,
    "data.world.max_distractors": NON_NEGATIVE,
    "data.world.max_leaf": COUNT,
    "data.world.max_k": COUNT,
    "data.world.max_value": COUNT,
    "data.min_ops": COUNT,
    "data.max_ops": COUNT,
    "data.max_number": at_least(2),
    "data.world_seed": SEED,
    # data: GSM8K / MATH files
    "data.limit": at_least(1, "or null for every problem"),
    # teacher
    "teacher.temperature": TEMPERATURE,
    "teacher.top_p": TOP_P,
    "teacher.max_tokens": COUNT,
    "teacher.seed": SEED,
    "teacher.max_reasks": NON_NEGATIVE,
    "teacher.max_concurrency": at_least(1, "requests in flight at once"),
    "teacher.rpm": at_least(1, "or null for no request limit"),
    "teacher.tpm": at_least(1, "or null for no token limit"),
    "teacher.max_retries": NON_NEGATIVE,
    "teacher.backoff_base_s": NON_NEGATIVE,
    "teacher.backoff_max_s": NON_NEGATIVE,
    "teacher.request_timeout_s": positive(),
    "teacher.circuit_breaker_failures": at_least(0, "0 turns the breaker off"),
    "teacher.max_cost_usd": at_least(0, "dollars; null for no budget"),
    "teacher.price_input_per_mtok": NON_NEGATIVE,
    "teacher.price_output_per_mtok": NON_NEGATIVE,
    "teacher.tensor_parallel_size": COUNT,
    "teacher.gpu_memory_utilization": SHARE,
    # errors and correction
    "errors.seed": SEED,
    "errors.per_problem": COUNT,
    "errors.prior_weight": NON_NEGATIVE,
    "correction.seed": SEED,
    # model
    "model.params_b": at_least(0, "billions; 0 = measure"),
    "model.tiny.vocab_size": at_least(16),
    "model.tiny.hidden_size": COUNT,
    "model.tiny.intermediate_size": COUNT,
    "model.tiny.num_layers": COUNT,
    "model.tiny.num_heads": COUNT,
    "model.tiny.max_position_embeddings": COUNT,
    "model.tiny.warmup.max_steps": NON_NEGATIVE,
    "model.tiny.warmup.lr": positive(),
    "model.tiny.warmup.global_batch": COUNT,
    "model.tiny.warmup.warmup_ratio": between(0, 1, high_open=True),
    "model.tiny.warmup.weight_decay": NON_NEGATIVE,
    "model.tiny.warmup.max_grad_norm": NON_NEGATIVE,
    "model.tiny.init_seed": SEED,
    "model.tiny.gate.min_acc": between(0, 100, hint="percent"),
    "model.tiny.gate.max_acc": between(0, 100, hint="percent"),
    "model.tiny.gate.min_lookup_share": between(0, 1),
    "model.tiny.gate.max_new_tokens": COUNT,
    # train
    "train.lr": positive(),
    "train.epochs": positive("train.max_steps, when set, ends training first"),
    "train.max_steps": at_least(1, "or null to let train.epochs decide"),
    "train.global_batch": COUNT,
    "train.max_seq_len": at_least(8),
    "train.warmup_ratio": between(0, 1, high_open=True),
    "train.weight_decay": NON_NEGATIVE,
    "train.max_grad_norm": NON_NEGATIVE,
    "train.seed": SEED,
    "train.lora_r": COUNT,
    "train.lora_alpha": COUNT,
    "train.zero_stage": between(0, 3, hint="DeepSpeed ZeRO stages"),
    "train.nproc_per_node": COUNT,
    "train.nnodes": COUNT,
    "train.master_port": between(1, 65535),
    "train.micro_batch": at_least(1, "or null to derive it from train.global_batch"),
    "train.save_every": COUNT,
    "train.keep_checkpoints": COUNT,
    "train.log_every": COUNT,
    "train.dataloader_workers": NON_NEGATIVE,
    "train.gpu_memory_gb": positive(),
    # benchmark
    "benchmark.limit": at_least(1, "or null for every item"),
    "benchmark.n_samples": COUNT,
    "benchmark.temperature": TEMPERATURE,
    "benchmark.also_sampled_temperature": between(0, 2, low_open=True, hint="or null for greedy only"),
    "benchmark.top_p": TOP_P,
    "benchmark.seed": SEED,
    "benchmark.max_new_tokens": at_least(1, "or null for each item's own budget"),
    "benchmark.batch_size": COUNT,
    "benchmark.grader_workers": at_least(1, "or null for one per core, at most 8"),
    "benchmark.grader_timeout_s": positive(),
    "benchmark.items.*.shots": between(0, 4, hint="the GSM8K demo set holds 4"),
    "benchmark.items.*.max_new_tokens": COUNT,
    # sample
    "sample.n": COUNT,
    "sample.limit": at_least(1, "or null for every train problem"),
    "sample.temperature": TEMPERATURE,
    "sample.top_p": TOP_P,
    "sample.max_new_tokens": COUNT,
    "sample.shots": between(0, 4, hint="the GSM8K demo set holds 4"),
    "sample.seed": SEED,
    "sample.batch_size": COUNT,
    # build
    "build.fraction": SHARE,
    "build.max_examples": at_least(1, "or null for no cap"),
    "build.seed": SEED,
    # generation
    "generation.tensor_parallel_size": COUNT,
    "generation.gpu_memory_utilization": SHARE,
    # pipeline
    "pipeline.progress_interval_s": positive("seconds between progress lines"),
}


def values_at(cfg: DictConfig, key: str) -> list[tuple[str, Any]]:
    """(concrete key, value) for `key`, expanding `*` over dict entries; absent keys give nothing."""
    head, star, tail = key.partition(".*.")
    if not star:
        if OmegaConf.select(cfg, key, default=_ABSENT) is _ABSENT:
            return []
        return [(key, OmegaConf.select(cfg, key))]
    node = OmegaConf.select(cfg, head, default=None)
    if not isinstance(node, DictConfig):
        return []
    return [pair for name in node.keys() for pair in values_at(cfg, f"{head}.{name}.{tail}")]


_ABSENT = object()


def range_problems(cfg: DictConfig) -> list[str]:
    """One line per value outside its range: `train.epochs=-1 must be > 0 (...)`."""
    problems = []
    for key, rule in RANGES.items():
        for concrete, value in values_at(cfg, key):
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue  # null = off; wrong types already failed when Hydra composed the config
            if not rule.allows(value):
                problems.append(f"{concrete}={value} {rule.describe()}")
    return problems
