"""Cross-field validation of the composed config: every problem gathered into one LemmaConfigError.

Hydra checks each field's type when it composes, and the value of every closed choice (stage names, arms, backends,
sources: enum fields of the schema); the rules here span fields and groups (a teacher that cannot serve the data, arms
a release cannot train, matched-arms settings) and run in the pre-flight (lemma.preflight) before any stage. Range
checks of numeric fields live in lemma.ranges.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from lemma import taxonomy
from lemma.config_data import BUILTIN_WORLDS, DataKind, ErrorDistribution, TeacherBackend
from lemma.config_models import BenchmarkSource, BuiltinSplit, ModelKind, TokenizerKind
from lemma.errors import LemmaError
from lemma.ranges import range_problems


class LemmaConfigError(LemmaError, ValueError):
    """Every problem the pre-flight finds (config, files, environment), gathered into one message."""

    exit_code = 2
    before_any_work = True

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))


def validate(cfg: DictConfig) -> None:
    """Collect every cross-field problem and out-of-range value into one LemmaConfigError, before any stage runs."""
    problems: list[str] = range_problems(cfg)
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
    if not cfg.build.sources:
        problems.append("build.sources is empty: the SFT set would be empty; use [self], [injected] or both")
    if cfg.benchmark.n_samples > 1 and cfg.benchmark.temperature <= 0:
        problems.append("benchmark.n_samples > 1 needs benchmark.temperature > 0 (greedy samples are identical)")
    problems += _world_problems(cfg)
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
    items = cfg.benchmark["items"]
    builtin = [name for name, item in items.items() if item.source == BenchmarkSource.builtin]
    if builtin and not world:
        problems.append(f"benchmark={cfg.benchmark.name} is a built-in world's test split and needs a built-in world "
                        "(data=relations or data=arith); choose benchmark=paper (or gsm8k, math, ...) for real data")
    for name, item in items.items():
        if item.source != BenchmarkSource.builtin and item.split != BuiltinSplit.test:
            problems.append(f"benchmark.items.{name}.split={item.split} picks a built-in world's split, but the item's "
                            f"source is {item.source}; remove split (a file or hub benchmark names its own rows)")
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
