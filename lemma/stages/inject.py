"""inject: the teacher writes new flawed solutions from correct references, with error types drawn per problem.

Paper §3.3: the type "is sampled from the previously obtained error type distribution for each question". The original
ignores any distribution and sends 6 types x 5 identical prompts per question (METHOD.md §3.4). Here `errors=` picks
the target: `analyzed` mixes each problem's own labels with the dataset-level distribution as a prior
(`errors.prior_weight` pseudo-counts), `paper` uses the published percentages, `uniform` is flat. Every target is
restricted to what the teacher can inject and renormalised; the realised type counts are written next to the target.
Only injections whose final answer really differs from the gold are kept.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from typing import Any

from lemma.artifacts import Artifact, write_json
from lemma.errors import LemmaError
from lemma.pipeline import Stage, StageContext
from lemma.prompts import prompt_files
from lemma.records import Flawed, read_jsonl, write_jsonl
from lemma.stage_text import kv
from lemma.stages.classify import read_labels
from lemma.stages.problems import read_train
from lemma.stages.sample import read_attempts
from lemma.taxonomy import ErrorType, normalize, parse_error_type
from lemma.teacher.base import InjectRequest

INJECTED_FILE = "injected.jsonl"  # the kept injections; consumers call read_injected
STATS_FILE = "injection_stats.json"  # target, requested and realised type counts


def read_injected(artifact: Artifact) -> list[Flawed]:
    """The teacher's flawed solutions whose final answer really differs from the gold (source "injected")."""
    return read_jsonl(artifact.file(INJECTED_FILE), Flawed)


def summary(stats: dict[str, Any]) -> list[str]:
    """The report's data line for these stats."""
    target = ", ".join(f"{k}={v:.2f}" for k, v in stats["target"].items())
    return [f"- **inject**: {stats['kept']} of {stats['requested']} injections kept on {stats['problems']} problems; "
            f"target ({target}); realised ({kv(stats['realised'])}); dropped: {kv(stats['dropped'])}."]


def run(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.cfg
    problems = read_train(ctx.input("problems"))
    attempts = read_attempts(ctx.input("sample"))
    labels = read_labels(ctx.input("classify"))
    allowed = ctx.teacher.injectable_types
    dataset_weights = dataset_level_weights(cfg, labels, allowed)
    failed = {a.problem_id for a in attempts if not a.correct}
    targets = [p for p in problems if p.id in failed] if cfg.errors.only_failed else problems
    per_problem = problem_labels(labels)
    requests = []
    for problem in targets:
        weights = problem_weights(cfg, per_problem.get(problem.id, Counter()), dataset_weights, allowed)
        for draw in range(cfg.errors.per_problem):
            requests.append(InjectRequest(problem, draw_type(weights, cfg.errors.seed, problem.id, draw), draw))
    outcomes = ctx.teacher.inject(requests)
    ok = [(r, o) for r, o in zip(requests, outcomes) if o.ok and o.value is not None]
    verdicts = ctx.grader.grade([o.value.text for _, o in ok], [r.problem.gold for r, _ in ok])
    kept: list[Flawed] = []
    dropped = Counter(o.failure for o in outcomes if not o.ok)
    for (req, outcome), verdict in zip(ok, verdicts):
        if verdict.correct or verdict.extracted is None:
            dropped["answer_unchanged" if verdict.correct else "no_final_answer"] += 1
            continue
        kept.append(Flawed(id=f"{req.problem.id}-inj{req.draw}", problem_id=req.problem.id, source="injected",
                           text=outcome.value.text, extracted=verdict.extracted, error_type=req.error_type.value,
                           intended_step=outcome.value.intended_step, explanation=outcome.value.explanation))
    write_jsonl(ctx.out / INJECTED_FILE, kept)
    realised = Counter(f.error_type for f in kept)
    requested = Counter(r.error_type.value for r in requests)
    target = {t.value: round(w, 6) for t, w in dataset_weights.items()}
    write_json(ctx.out / STATS_FILE, {"distribution": str(cfg.errors.distribution), "target": target,
                                      "requested": dict(requested), "realised": dict(realised),
                                      "injectable": sorted(t.value for t in allowed)})
    return {"problems": len(targets), "requested": len(requests), "kept": len(kept), "dropped": dict(dropped),
            "target": {ErrorType(t).abbr: w for t, w in target.items()},
            "realised": {ErrorType(t).abbr: n for t, n in sorted(realised.items())}}


class NothingToInject(LemmaError, ValueError):
    """The student's measured errors are all of types the teacher cannot inject (a student too weak to err usefully)."""


def dataset_level_weights(cfg: Any, labels: list[Flawed], allowed: frozenset[ErrorType]) -> dict[ErrorType, float]:
    """The target distribution over injectable types that `errors=` names."""
    kind = str(cfg.errors.distribution)
    if kind == "uniform":
        raw = {t: 1.0 for t in allowed}
    elif kind == "paper":
        raw = {parse_error_type(k): float(v) for k, v in cfg.errors.weights.items()}
    else:
        raw = {t: float(n) for t, n in Counter(ErrorType(f.error_type) for f in labels).items()}
        for label, extra in cfg.errors.weights.items():  # optional user prior on top of the measurement
            t = parse_error_type(label)
            raw[t] = raw.get(t, 0.0) + float(extra)
    try:
        return normalize(raw, allowed)
    except ValueError as exc:
        measured = ", ".join(f"{t.abbr}={w:g}" for t, w in raw.items()) or "nothing"
        raise NothingToInject(f"errors={cfg.errors.name}: {exc}; measured/target weights: {measured}. "
                              "Use errors=uniform or errors=paper, or add errors.weights as a prior") from None


def problem_labels(labels: list[Flawed]) -> dict[str, Counter[ErrorType]]:
    out: dict[str, Counter[ErrorType]] = defaultdict(Counter)
    for f in labels:
        out[f.problem_id][ErrorType(f.error_type)] += 1
    return out


def problem_weights(cfg: Any, own: Counter[ErrorType], prior: dict[ErrorType, float],
                    allowed: frozenset[ErrorType]) -> dict[ErrorType, float]:
    """analyzed: a problem's own error counts plus the dataset distribution as `prior_weight` pseudo-counts."""
    if str(cfg.errors.distribution) != "analyzed":
        return prior
    mixed = {t: own.get(t, 0) + cfg.errors.prior_weight * prior.get(t, 0.0) for t in allowed}
    try:
        return normalize(mixed, allowed)
    except ValueError:
        return prior


def draw_type(weights: dict[ErrorType, float], seed: int, problem_id: str, draw: int) -> ErrorType:
    """A reproducible draw: seeded by (seed, problem, draw), independent of batch order and PYTHONHASHSEED."""
    digest = hashlib.sha256(json.dumps([seed, problem_id, draw]).encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    types = sorted(weights)
    return rng.choices(types, weights=[weights[t] for t in types])[0]


STAGE = Stage(name="inject", run=run, needs=lambda cfg, arm: ("problems", "sample", "classify"),
              keys=("teacher", "errors"), files=lambda cfg: prompt_files(cfg, "inject"), uses=("teacher",))
