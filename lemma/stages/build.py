"""build: the SFT set. Final answer check, source filter, dedup, decontamination, mixing, export with lineage.

Paper §3.4-§4.1: only trajectories whose final answer verifies are kept. The original has no export code at all (no
merge, dedup, mixing or counts; METHOD.md §3.10). Every row here carries its provenance (problem, dataset, source,
error type and step, strategy, truncation, smoothing, teacher, student), so data-mix ablations need no regeneration.
`data=lemma_release` skips synthesis and converts the released Alpaca rows.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from lemma.artifacts import Artifact
from lemma.pipeline import Stage, StageContext
from lemma.records import SFTExample, Trajectory, read_jsonl, write_jsonl
from lemma.stage_text import kv
from lemma.stages import smooth
from lemma.stages.problems import read_test, read_train
from lemma.stages.sample import read_student
from lemma.steps import split_steps
from lemma.release import release_rows  # data=lemma_release: JSON array, JSONL, parquet or the hub

NGRAM = 13  # decontamination window, in words (as GPT-3 / Llama reports)
WORLDS = ("relations", "arith")  # built-in worlds: their own test split is the decontamination set
SFT_FILE = "sft.jsonl"  # the rows with lineage; consumers call read_sft
ALPACA_FILE = "alpaca.jsonl"  # the same rows in the paper's release format, for export only


def read_sft(artifact: Artifact) -> list[SFTExample]:
    """The SFT set, mixed and subsampled, every row with its provenance."""
    return read_jsonl(artifact.file(SFT_FILE), SFTExample)


def summary(stats: dict[str, Any]) -> list[str]:
    """The report's data line for these stats."""
    return [f"- **build**: {stats['examples']} SFT examples; by source {kv(stats['by_source'])}; by strategy "
            f"{kv(stats['by_strategy'])}; by error type {kv(stats['by_error_type'])}; "
            f"dropped: {kv(stats['dropped'])}."]


def run(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.cfg
    if str(cfg.data.kind) == "release":
        rows = release_rows(cfg.data, str(cfg.model.prompt_format))
        drops: Counter[str] = Counter()
    else:
        rows, drops = synthesis_rows(ctx)
    if cfg.build.dedup:
        rows, n_dup = dedup(rows)
        drops["duplicate"] += n_dup
    if cfg.build.decontaminate:
        # A built-in world is templated: 13-word windows repeat across distinct problems, so only exact matches count.
        window = None if str(cfg.data.kind) in WORLDS else NGRAM
        rows, n_cont = decontaminate(rows, benchmark_questions(ctx), window)
        drops["benchmark_overlap"] += n_cont
    cap = cfg.build.max_examples
    if cfg.build.match_size_to:
        matched = sum(r.source in set(cfg.build.match_size_to) for r in rows)
        cap = matched if cap is None else min(cap, matched)
    rows = subsample(rows, cfg.build.fraction, cap, cfg.build.seed)
    write_jsonl(ctx.out / SFT_FILE, rows)
    write_alpaca(ctx.out / ALPACA_FILE, rows)
    return {"examples": len(rows), "dropped": dict(drops), **composition(rows)}


def synthesis_rows(ctx: StageContext) -> tuple[list[SFTExample], Counter[str]]:
    cfg = ctx.cfg
    problems = {p.id: p for p in read_train(ctx.input("problems"))}
    trajectories = smooth.read_trajectories(ctx.input("smooth"))
    drops: Counter[str] = Counter()
    wanted_sources = set(cfg.build.sources)
    selected = [t for t in trajectories if t.source in wanted_sources]
    drops["source_not_selected"] += len(trajectories) - len(selected)
    verdicts = ctx.grader.grade([t.text for t in selected], [problems[t.problem_id].gold for t in selected])
    rows = []
    student = read_student(ctx.input("sample")) if "sample" in ctx.inputs else None
    for t, verdict in zip(selected, verdicts):
        if not verdict.correct:  # the answer after the last reflection, not the first one in the text
            drops["final_answer_wrong"] += 1
            continue
        p = problems[t.problem_id]
        rows.append(SFTExample(id=t.id, problem_id=p.id, dataset=p.dataset, question=p.question, response=t.text,
                               source=t.source, error_type=t.error_type, error_step=t.error_step,
                               strategy=t.strategy, truncated=t.truncated, smoothed=t.smoothed,
                               teacher=cfg.teacher.model, student=student, clean_response=t.clean,
                               error_span=(span := error_span(t, p.dataset)),
                               masked_spans=[span] if span and cfg.build.mask_error_lines else []))
    return rows, drops


def error_span(t: Trajectory, dataset: str) -> list[int] | None:
    """[start, end) of the wrong step in the trajectory's text (the prefix starts it), for loss masking."""
    if t.smoothed or t.error_step is None:
        return None  # a rewrite moves every character; the step cannot be found again by position
    spans = split_steps(t.prefix, dataset)
    if not 1 <= t.error_step <= len(spans):
        return None
    span = spans[t.error_step - 1]
    return [span.start, span.end]


def dedup(rows: list[SFTExample]) -> tuple[list[SFTExample], int]:
    seen: set[str] = set()
    kept = []
    for r in rows:
        digest = hashlib.sha256(f"{_norm(r.question)}\x1f{_norm(r.response)}".encode()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            kept.append(r)
    return kept, len(rows) - len(kept)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def benchmark_questions(ctx: StageContext) -> list[str]:
    """Questions the SFT set must not contain: a built-in world's test split; for real data, the targets of
    `build.decontaminate_against`.

    The targets are config under `build` (their sha256 in this stage's key), independent of `benchmark=`, so choosing
    what to evaluate never changes (and retrains) the SFT set.
    """
    questions: list[str] = []
    questions += [p.question for p in read_test(ctx.input("problems")) or []]
    if str(ctx.cfg.data.kind) not in WORLDS:
        from lemma.benchmarks import target_questions

        if not len(ctx.cfg.build.decontaminate_against["items"]):
            ctx.log.warning("build.decontaminate=true, but build.decontaminate_against has no items: the SFT set is "
                            "not decontaminated against any benchmark")
        questions += target_questions(ctx.cfg.build)  # an unreadable target is an error, not a skip
    return questions


def decontaminate(rows: list[SFTExample], questions: list[str], window: int | None = NGRAM) -> tuple[list[SFTExample], int]:
    """Drop rows whose question equals a benchmark question or shares a `window`-word span with one."""
    grams: set[tuple[str, ...]] = set()
    exact: set[str] = set()
    for q in questions:
        words = _words(q)
        exact.add(" ".join(words))
        if window:
            grams.update(tuple(words[i:i + window]) for i in range(len(words) - window + 1))
    kept = []
    for r in rows:
        words = _words(r.question)
        spans = range(len(words) - window + 1) if window else range(0)
        hit = " ".join(words) in exact or any(tuple(words[i:i + window]) in grams for i in spans)
        if not hit:
            kept.append(r)
    return kept, len(rows) - len(kept)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def subsample(rows: list[SFTExample], fraction: float, cap: int | None, seed: int) -> list[SFTExample]:
    """Mix (seeded shuffle), then keep a fraction and/or a cap: data-scale curves and size-matched arms."""
    mixed = list(rows)
    random.Random(seed).shuffle(mixed)
    n = round(len(mixed) * fraction)
    if cap is not None:
        n = min(n, cap)
    return mixed[:n]


def composition(rows: list[SFTExample]) -> dict[str, Any]:
    lengths = [len(r.response) for r in rows]
    return {
        "by_source": dict(Counter(r.source for r in rows)),
        "by_strategy": dict(Counter(r.strategy or "none" for r in rows)),
        "by_error_type": dict(Counter(r.error_type or "none" for r in rows)),
        "by_dataset": dict(Counter(r.dataset for r in rows)),
        "smoothed": sum(bool(r.smoothed) for r in rows),
        "mean_response_chars": round(sum(lengths) / max(1, len(lengths)), 1),
    }


def write_alpaca(path: Path, rows: list[SFTExample]) -> None:
    """The paper's release format ({instruction, input, output}) next to our lineage-rich rows."""
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({"instruction": r.question, "input": "", "output": r.response}, ensure_ascii=False) + "\n")


def _needs(cfg: Any, arm: str | None) -> tuple[str, ...]:
    return ("problems",) if str(cfg.data.kind) == "release" else ("problems", "sample", "smooth")


# model.prompt_format: data=lemma_release renders the released rows with it, and there build's only parent is
# `problems`, whose key does not hold the model (in synthesis the sample -> base parents key it as well).
STAGE = Stage(name="build", run=run, needs=_needs, keys=("build", "model.prompt_format"), version=2)
