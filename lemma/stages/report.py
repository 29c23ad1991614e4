"""report: the results table (one row per arm, one column per benchmark) and the data statistics of the run.

Written as `report.md` and `report.json` in the artifact and copied into the Hydra run folder. The numbers come from
the evaluate artifacts' `metrics.json` and every stage manifest (counts, drops, teacher usage, time), so the report
explains how the data was made, not only how the model scored.
"""

from __future__ import annotations

from typing import Any

from lemma.artifacts import write_json
from lemma.pipeline import Stage, StageContext, needs_of

ARM_TITLES = {"base": "Base model (warm-up)", "sft": "SFT on correct solutions", "lemma": "LEMMA"}
# Paper Table 2 (LLaMA3-8B), for the `paper` suite: shown beside our numbers, never mixed into them.
PAPER_ROWS = {
    "SFT (paper, LLaMA3-8B)": {"gsm8k": 65.5, "math": 19.3, "asdiv": 72.1, "deepmind_math": 23.5, "mawps": 83.0,
                               "svamp": 67.1, "college_math": 13.3, "average": 49.1},
    "LEMMA (paper, LLaMA3-8B)": {"gsm8k": 79.2, "math": 38.3, "asdiv": 84.2, "deepmind_math": 39.2, "mawps": 88.8,
                                 "svamp": 82.6, "college_math": 24.7, "average": 62.4},
}
SYNTHESIS = ("sample", "classify", "inject", "locate", "correct", "smooth", "build")


def run(ctx: StageContext) -> dict[str, Any]:
    manifests = {node: art.manifest for node, art in ctx.inputs.items()}
    results = {arm: _metrics(ctx, arm) for arm in ctx.cfg.arms}
    benches = sorted({b for m in results.values() for b in m.get("benchmarks", {})})
    report = {
        "headline": results.get("lemma", {}).get("average"),
        "benchmarks": benches,
        "results": {arm: {"title": ARM_TITLES[arm], "average": m.get("average"),
                          **{b: m["benchmarks"][b]["acc"] for b in m.get("benchmarks", {})}}
                    for arm, m in results.items()},
        "details": {arm: m.get("benchmarks", {}) for arm, m in results.items()},
        "data": {node: manifests[node]["stats"] for node in SYNTHESIS if node in manifests},
        "teacher": {node: manifests[node]["teacher"] for node in SYNTHESIS
                    if node in manifests and "teacher" in manifests[node]},
        "stages": {node: {"key": m["key"], "seconds": m["seconds"]} for node, m in manifests.items()},
        "suite": ctx.cfg.benchmark.name,
    }
    write_json(ctx.out / "report.json", report)
    (ctx.out / "report.md").write_text(render_markdown(report, ctx.cfg.benchmark.name))
    return {"headline": report["headline"], "arms": list(results)}


def _metrics(ctx: StageContext, arm: str) -> dict[str, Any]:
    import json

    return json.loads(ctx.input(f"evaluate.{arm}").file("metrics.json").read_text())


def render_markdown(report: dict[str, Any], suite: str) -> str:
    lines = [f"# LEMMA run report", "", f"## Results: accuracy (%) on `benchmark={suite}`", ""]
    lines += results_table(report, suite)
    lines += ["", "## Data", ""] + data_section(report["data"])
    if report["teacher"]:
        lines += ["", "## Teacher calls", ""] + teacher_section(report["teacher"])
    lines += ["", "## Stages (seconds when built)", "", "| stage | key | seconds |", "|---|---|---:|"]
    lines += [f"| {n} | `{s['key']}` | {s['seconds']:.1f} |" for n, s in report["stages"].items()]
    return "\n".join(lines) + "\n"


def results_table(report: dict[str, Any], suite: str) -> list[str]:
    benches = report["benchmarks"]
    rows = [f"| Model | {' | '.join(benches)} | Avg |", "|---|" + "---:|" * (len(benches) + 1)]
    for arm, r in report["results"].items():
        rows.append(f"| {r['title']} | " + " | ".join(_fmt(r.get(b)) for b in benches) + f" | {_fmt(r['average'])} |")
    if suite == "paper":
        for title, r in PAPER_ROWS.items():
            rows.append(f"| *{title}* | " + " | ".join(_fmt(r.get(b)) for b in benches) + f" | {_fmt(r['average'])} |")
    return rows


def data_section(data: dict[str, Any]) -> list[str]:
    out = []
    if s := data.get("sample"):
        out.append(f"- **sample**: {s['attempts']} student attempts on {s['problems']} problems, {s['accuracy']}% "
                   f"correct; {s['problems_with_errors']} problems with at least one error.")
    if s := data.get("classify"):
        out.append(f"- **classify**: {s['labelled']} of {s['wrong_samples']} wrong samples labelled "
                   f"({_kv(s['counts'])}); dropped: {_kv(s['dropped'])}.")
    if s := data.get("inject"):
        target = ", ".join(f"{k}={v:.2f}" for k, v in s["target"].items())
        out.append(f"- **inject**: {s['kept']} of {s['requested']} injections kept on {s['problems']} problems; "
                   f"target ({target}); realised ({_kv(s['realised'])}); dropped: {_kv(s['dropped'])}.")
    if s := data.get("locate"):
        out.append(f"- **locate**: {s['located']} of {s['flawed']} flawed solutions located ({_kv(s['by_source'])}); "
                   f"injector step agreement {_kv(s['injected_step_agreement'])}; dropped: {_kv(s['dropped'])}.")
    if s := data.get("correct"):
        for strategy in ("fix", "fresh"):
            if strategy in s:
                st = s[strategy]
                name = "Fix & Continue" if strategy == "fix" else "Fresh & Restart"
                out.append(f"- **correct / {name}**: {st['kept']} of {st['requested']} verified "
                           f"({st['distinct_reflections']} distinct reflection phrases); dropped: {_kv(st['dropped'])}.")
    if s := data.get("smooth"):
        extra = {k: v for k, v in s.items() if k not in ("trajectories", "asked")}
        out.append(f"- **smooth**: {s['asked']} trajectories sent; {_kv(extra)}.")
    if s := data.get("build"):
        out.append(f"- **build**: {s['examples']} SFT examples; by source {_kv(s['by_source'])}; by strategy "
                   f"{_kv(s['by_strategy'])}; by error type {_kv(s['by_error_type'])}; dropped: {_kv(s['dropped'])}.")
    return out or ["(no synthesis stages in this run)"]


def teacher_section(teacher: dict[str, Any]) -> list[str]:
    rows = ["| stage | requests | cache hits | retries | parse failures | failures | tokens in | tokens out | cost $ |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for node, t in teacher.items():
        rows.append(f"| {node} | {t['requests']} | {t['cache_hits']} | {t['retries']} | {t['parse_failures']} | "
                    f"{t['failures']} | {t['input_tokens']} | {t['output_tokens']} | {t['cost_usd']:.4f} |")
    return rows


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _kv(d: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items()) if d else "none"


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


STAGE = Stage(name="report", run=run, needs=_needs, keys=("arms", "benchmark.name"))
