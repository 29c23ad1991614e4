"""report: the results table (one row per arm, one column per benchmark) and the data statistics of the run.

Written as `report.md` and `report.json` in the artifact and copied into the Hydra run folder. The numbers come from
the evaluate artifacts' `metrics.json` and every stage manifest (counts, drops, teacher usage, time), so the report
explains how the data was made, not only how the model scored. Other stages' files and statistics are read and
rendered by those stages (their readers, `summary`, `gate_line`, `budget`): the report only assembles them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from lemma.arms import ARM_TITLES
from lemma.artifacts import Artifact, write_json
from lemma.pipeline import Stage, StageContext, needs_of
from lemma.stages import build, classify, correct, inject, locate, sample, smooth
from lemma.stages.base import gate_line, gate_result
from lemma.stages.evaluate import read_generations, read_metrics
from lemma.stages.train import budget as train_budget

REPORT_MD, REPORT_JSON, PER_PROBLEM_FILE = "report.md", "report.json", "per_problem.json"
RUN_FILES = (REPORT_MD, REPORT_JSON, PER_PROBLEM_FILE)  # what lemma.pipeline copies into the Hydra run folder


def read_report(where: Artifact | Path) -> dict[str, Any]:
    """report.json of a report artifact, or of a run folder it was copied into (lemma.sweep, lemma.paired)."""
    return json.loads(_folder(where).joinpath(REPORT_JSON).read_text())


def read_per_problem(where: Artifact | Path) -> dict[str, Any]:
    """per_problem.json ({"seed", "variant", "arms": {arm: {problem id: greedy verdict}}}), from either place."""
    return json.loads(_folder(where).joinpath(PER_PROBLEM_FILE).read_text())


def _folder(where: Artifact | Path) -> Path:
    return where.path if isinstance(where, Artifact) else Path(where)


# The stages that make the training data, in graph order: each renders its own line(s) of the data section.
SYNTHESIS_STAGES = (sample, classify, inject, locate, correct, smooth, build)
SYNTHESIS = tuple(module.STAGE.name for module in SYNTHESIS_STAGES)


def run(ctx: StageContext) -> dict[str, Any]:
    manifests = {node: art.manifest for node, art in ctx.inputs.items()}
    results = {arm: read_metrics(ctx.input(f"evaluate.{arm}")) for arm in ctx.cfg.arms}
    benches = sorted({b for m in results.values() for b in m.get("benchmarks", {})})
    report = {
        "headline": results.get("lemma", {}).get("average"),
        "arms": list(results),  # the row order (report.json's keys are sorted)
        "benchmarks": benches,
        "results": {arm: {"title": arm_title(ctx.cfg, arm), "average": m.get("average"),
                          **{b: m["benchmarks"][b]["acc"] for b in m.get("benchmarks", {})}}
                    for arm, m in results.items()},
        "details": {arm: m.get("benchmarks", {}) for arm, m in results.items()},
        "data": {node: manifests[node]["stats"] for node in SYNTHESIS if node in manifests},
        "teacher": {node: manifests[node]["teacher"] for node in SYNTHESIS
                    if node in manifests and "teacher" in manifests[node]},
        "budget": teacher_budget(manifests),
        "mechanism": mechanism(ctx.cfg.arms, results, manifests),
        "gate": gate_result(manifests.get("base", {}).get("stats", {})),
        "stages": {node: {"key": m["key"], "seconds": m["seconds"]} for node, m in manifests.items()},
        "suite": ctx.cfg.benchmark.name,
        # published rows of the suite (benchmark.reference_results), shown beside ours, never mixed in
        "reference_results": _references(ctx.cfg.benchmark),
    }
    write_json(ctx.out / REPORT_JSON, report)
    write_json(ctx.out / PER_PROBLEM_FILE, per_problem(ctx))
    (ctx.out / REPORT_MD).write_text(render_markdown(report, ctx.cfg.benchmark.name))
    return {"headline": report["headline"], "arms": list(results)}


def _references(benchmark: Any) -> dict[str, dict[str, float]]:
    refs = getattr(benchmark, "reference_results", None) or {}
    return OmegaConf.to_container(refs, resolve=True) if not isinstance(refs, dict) else dict(refs)


def per_problem(ctx: StageContext) -> dict[str, Any]:
    """Greedy correctness of every first-benchmark problem per arm: what paired comparisons across runs need."""
    arms: dict[str, dict[str, bool]] = {}
    for arm in ctx.cfg.arms:
        first: str | None = None
        verdicts: dict[str, bool] = {}
        for row in read_generations(ctx.input(f"evaluate.{arm}")):
            first = first or row["benchmark"]
            if row["benchmark"] == first and row["sample"] == 0:
                verdicts[row["id"]] = bool(row["correct"])
        arms[arm] = verdicts
    return {"seed": ctx.cfg.seed, "variant": ctx.cfg.variant, "arms": arms}


def arm_title(cfg: Any, arm: str) -> str:
    """The row label. The base arm of a real model is that model (its name and path: `model=checkpoint` evaluates
    any folder); "warm-up" describes only the tiny model, which the base stage warms up."""
    if arm != "base" or str(cfg.model.kind) == "tiny":
        return ARM_TITLES[arm]
    name, path = str(cfg.model.name), str(cfg.model.path or "")
    if not path or path == name:
        return name
    return path if name == "checkpoint" else f"{name} ({path})"


def teacher_budget(manifests: dict[str, Any]) -> dict[str, Any] | None:
    """Spend through the teacher's cache ledger (all runs sharing it) after the last teacher stage that ran."""
    last = None
    for node in SYNTHESIS:
        budget = manifests.get(node, {}).get("teacher", {}).get("budget")
        if budget:
            last = {**budget, "after": node, "model": manifests[node]["teacher"].get("model")}
    return last


def render_markdown(report: dict[str, Any], suite: str) -> str:
    lines = [f"# LEMMA run report", "", f"## Results: accuracy (%) on `benchmark={suite}`", ""]
    lines += results_table(report, suite)
    if report.get("gate"):
        lines += ["", gate_line(report["gate"])]
    if report.get("mechanism"):
        lines += ["", "## Learning from errors: mechanism and budget", ""] + mechanism_table(report["mechanism"])
        lines += depth_table(report["mechanism"])
    lines += ["", "## Data", ""] + data_section(report["data"])
    if report["teacher"]:
        lines += ["", "## Teacher calls", ""] + teacher_section(report["teacher"])
    if report.get("budget"):
        lines += ["", budget_line(report["budget"])]
    lines += ["", "## Stages (seconds when built)", "", "| stage | key | seconds |", "|---|---|---:|"]
    lines += [f"| {n} | `{s['key']}` | {s['seconds']:.1f} |" for n, s in report["stages"].items()]
    return "\n".join(lines) + "\n"


def results_table(report: dict[str, Any], suite: str) -> list[str]:
    benches = report["benchmarks"]
    rows = [f"| Model | {' | '.join(benches)} | Avg |", "|---|" + "---:|" * (len(benches) + 1)]
    for arm, r in report["results"].items():
        rows.append(f"| {r['title']} | " + " | ".join(_fmt(r.get(b)) for b in benches) + f" | {_fmt(r['average'])} |")
    for title, r in (report.get("reference_results") or {}).items():
        rows.append(f"| *{title}* | " + " | ".join(_fmt(r.get(b)) for b in benches) + f" | {_fmt(r.get('average'))} |")
    return rows


MECHANISM_KEYS = ("acc", "first_attempt_acc", "reflect_rate", "wrong_to_right_n", "right_to_wrong_n", "acc_by_depth")


def mechanism(arms: Any, results: dict[str, Any], manifests: dict[str, Any]) -> dict[str, Any]:
    """Per arm, on the first benchmark: greedy and sampled accuracy, first attempts, reflections and what each arm
    trained on (tokens with loss, clean solutions seen, trajectory rows), so arms are compared at a known budget."""
    out: dict[str, Any] = {}
    for arm in arms:
        benches = results.get(arm, {}).get("benchmarks", {})
        if not benches:
            continue
        name, m = next(iter(benches.items()))
        sampled = m.get("sampled") or {}
        out[arm] = {"benchmark": name, **{k: m.get(k) for k in MECHANISM_KEYS},
                    "sampled_acc": sampled.get("acc"), "sampled_temperature": sampled.get("temperature"),
                    **train_budget(manifests.get(f"train.{arm}", {}).get("stats", {}))}
    return out


def mechanism_table(mech: dict[str, Any]) -> list[str]:
    temp = next((m["sampled_temperature"] for m in mech.values() if m.get("sampled_temperature") is not None), None)
    sampled = f"pass@1 T={temp:g}" if temp is not None else "pass@1 sampled"
    rows = [f"| Model | greedy pass@1 | {sampled} | first attempt | reflects % | wrong→right | right→wrong | "
            "steps | trained tokens | clean solutions seen | trajectory rows |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for arm, m in mech.items():
        reflect = None if m.get("reflect_rate") is None else 100 * m["reflect_rate"]
        rows.append(f"| {ARM_TITLES.get(arm, arm)} | {_fmt(m['acc'])} | {_fmt(m['sampled_acc'])} | "
                    f"{_fmt(m['first_attempt_acc'])} | {_fmt(reflect)} | {_int(m['wrong_to_right_n'])} | "
                    f"{_int(m['right_to_wrong_n'])} | {_int(m['steps'])} | {_int(m['trained_tokens'])} | "
                    f"{_int(m['clean_solutions_seen'])} | {_int(m['trajectory_rows'])} |")
    return rows


def depth_table(mech: dict[str, Any]) -> list[str]:
    depths = sorted({d for m in mech.values() for d in (m.get("acc_by_depth") or {})}, key=lambda d: (len(d), d))
    if not depths:
        return []
    rows = ["", "Greedy accuracy (%) by chain depth:", "", "| Model | " + " | ".join(f"depth {d}" for d in depths) + " |",
            "|---|" + "---:|" * len(depths)]
    for arm, m in mech.items():
        by = m.get("acc_by_depth") or {}
        rows.append(f"| {ARM_TITLES.get(arm, arm)} | " + " | ".join(_fmt(by.get(d)) for d in depths) + " |")
    return rows


def _int(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def data_section(data: dict[str, Any]) -> list[str]:
    """Each synthesis stage's own summary of its stats, in graph order; a stage the run lacks gives no line."""
    out = [line for module in SYNTHESIS_STAGES if (stats := data.get(module.STAGE.name))
           for line in module.summary(stats)]
    return out or ["(no synthesis stages in this run)"]


def teacher_section(teacher: dict[str, Any]) -> list[str]:
    rows = ["| stage | requests | cache hits | retries | parse failures | failures | tokens in | tokens out | cost $ |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for node, t in teacher.items():
        rows.append(f"| {node} | {t['requests']} | {t['cache_hits']} | {t['retries']} | {t['parse_failures']} | "
                    f"{t['failures']} | {t['input_tokens']} | {t['output_tokens']} | {t['cost_usd']:.4f} |")
    return rows


def budget_line(budget: dict[str, Any]) -> str:
    """Spent so far and what remains of teacher.max_cost_usd, counted over every run sharing the cache."""
    scope = "through this cache, all runs and sweep jobs" if budget.get("scope") == "cache" else "in this run"
    text = f"**Teacher spend** ({budget.get('model')}, {scope}, after {budget['after']}): ${budget['spent_total_usd']:.2f}"
    if budget.get("max_cost_usd") is not None:
        text += f" of teacher.max_cost_usd=${budget['max_cost_usd']:.2f}; ${budget['remaining_usd']:.2f} remaining."
    else:
        return text + " (no teacher.max_cost_usd cap)."
    return text


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _needs(cfg: Any, arm: str | None) -> tuple[str, ...]:
    """Every evaluate node, and all their ancestors, so the report can read every manifest."""
    roots = [f"evaluate.{a}" for a in cfg.arms]
    seen: list[str] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.append(node)
            stack.extend(needs_of(cfg, node))
    return tuple(sorted(seen))


STAGE = Stage(name="report", run=run, needs=_needs, keys=("arms", "benchmark.name", "seed", "variant"))
