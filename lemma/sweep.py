"""Sweep results: live progress, `summary.{csv,md,tex}` and plots for a multirun folder, and a command to rebuild them.

Hydra reports multirun failures only at the end and cannot resume a sweep (DESIGN.md §9, b12). Here a callback keeps
`sweep.json` (every arm: pending, running, done, cached or failed) and rewrites the summary after every job, so a
partial or failed sweep still has a table. Rerunning the same sweep recomputes nothing finished: every artifact is
content-addressed. `python -m lemma.sweep <sweep_dir>` rebuilds the summary from any sweep folder and prints the
commands that rerun only the failed or missing arms.
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import json
import logging
import math
import signal
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lemma import signals
from lemma.artifacts import write_json
from lemma.pipeline import LINEAGE_FILE
from lemma.stages.report import read_report

log = logging.getLogger(__name__)
SEED_KEYS = ("seed",)
# Paired comparisons hold only when jobs differ by seed and LEMMA variant: a job of one seed shares its sft, clean
# and base arms with every other job of that seed (a sweep of train.lr, say, does not; lemma.dev_choice reads it).
PAIRED_KEYS = {"seed", "variant"}
STATE_FILE = "sweep.json"

# ------------------------------------------------------------------------------------------------ arms and state
def override_key(override: str) -> str:
    """`+variant=mix` -> `variant`: the config key an override sets."""
    return override.split("=", 1)[0].lstrip("+~")


def varying_keys(jobs: list[list[str]]) -> set[str]:
    """Override keys whose value differs between jobs: what the sweep is about (fixed overrides are not)."""
    values: dict[str, set[str]] = defaultdict(set)
    for job in jobs:
        for o in job:
            values[override_key(o)].add(o)
    return {k for k, v in values.items() if len(v) > 1 or sum(override_key(o) == k for j in jobs for o in j) < len(jobs)}


def arm_name(overrides: list[str], varying: set[str] | None = None) -> str:
    """An arm is its varying overrides without the seed: seeds are averaged within an arm."""
    kept = [o for o in overrides if override_key(o) not in SEED_KEYS and (varying is None or override_key(o) in varying)]
    return " ".join(sorted(kept)) or "default"


def expand_jobs(config: DictConfig) -> list[list[str]]:
    """Every job of a multirun, as Hydra's basic sweeper will enumerate it."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = [f"{k}={v}" for k, v in (config.hydra.sweeper.get("params") or {}).items()]
    parsed = OverridesParser.create().parse_overrides([*params, *config.hydra.overrides.task])
    batches = BasicSweeper.split_arguments(parsed, None)
    return [list(job) for batch in batches for job in batch]


def _update_state(sweep_dir: Path, change: dict[str, Any]) -> dict[str, Any]:
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with open(sweep_dir / ".sweep.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = sweep_dir / STATE_FILE
        state = json.loads(path.read_text()) if path.exists() else {"jobs": {}}
        for num, job in change.items():
            state["jobs"].setdefault(num, {}).update(job)
        write_json(path, state)
        return state


def _progress_line(state: dict[str, Any]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for job in state["jobs"].values():
        counts[job.get("status", "pending")] += 1
    return "sweep: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object  # type: ignore[misc,assignment]


def _slurm_host_task() -> bool:
    """A multi-node job's other tasks only host training workers: the job's state is the first task's to record."""
    from lemma.training.slurm import is_host_task

    return is_host_task()


class SweepCallback(Callback):  # type: ignore[misc]
    """Registered by every sweeps/*.yaml: progress as it goes, summary after every job and at the end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        expanded = expand_jobs(config)
        varying = varying_keys(expanded)
        jobs = {str(i): {"overrides": job, "arm": arm_name(job, varying), "status": "pending"}
                for i, job in enumerate(expanded)}
        existing = json.loads((sweep_dir / STATE_FILE).read_text())["jobs"] if (sweep_dir / STATE_FILE).exists() else {}
        state = _update_state(sweep_dir, {k: v for k, v in jobs.items() if k not in existing})
        log.info("%s (%d jobs)", _progress_line(state), len(state["jobs"]))

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode is None or str(config.hydra.mode) != "RunMode.MULTIRUN" or _slurm_host_task():
            return
        num = str(config.hydra.job.num)
        state = _update_state(Path(config.hydra.sweep.dir), {num: {"status": "running"}})
        log.info("job %s [%s] running; %s", num, state["jobs"][num].get("arm", "?"), _progress_line(state))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if config.hydra.mode is None or str(config.hydra.mode) != "RunMode.MULTIRUN" or _slurm_host_task():
            return
        from hydra.core.utils import JobStatus

        num, sweep_dir = str(config.hydra.job.num), Path(config.hydra.sweep.dir)
        job_dir = Path(config.hydra.runtime.output_dir)
        if job_return.status == JobStatus.COMPLETED:
            lineage = _read_json(job_dir / LINEAGE_FILE) or {}
            status = "cached" if lineage.get("cached") and not lineage.get("computed") else "done"
            change = {"status": status, "dir": str(job_dir)}
        else:
            error = repr(job_return._return_value)[:500]
            change = {"status": "failed", "dir": str(job_dir), "error": error}
            log.error("job %s FAILED: %s", num, error)
        interrupted = _stop_signal(job_return)
        if interrupted is not None:
            change["status"] = "interrupted"
        state = _update_state(sweep_dir, {num: change})
        log.info("job %s %s; %s", num, change["status"], _progress_line(state))
        write_summary(sweep_dir)
        if interrupted is not None:  # a scheduler's stop ends the sweep, not only its current job
            log.error("sweep stopped by %s: the jobs not yet run were not started; rerun the same command to "
                      "continue (finished work is cached)", signal.Signals(interrupted.signum).name)
            signals.exit_now(interrupted.exit_code)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        summary = write_summary(Path(config.hydra.sweep.dir))
        print(summary.markdown())


def _stop_signal(job_return: Any) -> Any:
    """The RunInterrupted a job ended with (SIGTERM/SIGINT/SIGHUP reached the sweep), else None."""
    try:
        value = job_return._return_value
    except Exception:  # noqa: BLE001 - Hydra raises the job's own exception from the property on some versions
        return None
    return value if isinstance(value, signals.RunInterrupted) else None


# -------------------------------------------------------------------------------------------------------- summary
@dataclass
class ArmResult:
    arm: str
    scores: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # column -> one value per seed
    examples: list[int] = field(default_factory=list)
    seeds: list[str] = field(default_factory=list)


@dataclass
class Summary:
    sweep_dir: Path
    columns: list[str]
    arms: list[ArmResult]
    baselines: dict[str, dict[str, float]]
    missing: list[dict[str, Any]]
    references: dict[str, dict[str, Any]] = field(default_factory=dict)  # the sweep YAML's reference_results

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for arm in self.arms:
            row: dict[str, Any] = {"arm": arm.arm, "seeds": len(arm.seeds)}
            for col in self.columns:
                values = arm.scores.get(col, [])
                row[col] = _mean(values)
                row[f"{col}_std"] = _std(values)
            row["sft_examples"] = _mean([float(x) for x in arm.examples])
            paper = self.references.get(arm.arm) or {}
            row["paper_row"] = paper.get("title", "")
            row["paper_average"] = paper.get("average")
            out.append(row)
        return out

    def markdown(self) -> str:
        head = ["arm", "seeds", *self.columns, "SFT examples", "paper (LLaMA3-8B avg)"]
        lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        for row in self.rows():
            cells = [row["arm"], str(row["seeds"]), *(_pm(row[c], row[f"{c}_std"]) for c in self.columns),
                     _num(row["sft_examples"], 0), f"{row['paper_row']} {row['paper_average']}" if row["paper_row"] else "-"]
            lines.append("| " + " | ".join(cells) + " |")
        for title, scores in self.baselines.items():
            lines.append("| " + " | ".join([f"*{title}*", "-", *(_num(scores.get(c)) for c in self.columns), "-", "-"]) + " |")
        if self.missing:
            lines += ["", "Failed or missing arms (rerun only these):", ""]
            lines += [f"- job {m['job']} [{m['arm']}] {m['status']}: `python run.py {' '.join(m['overrides'])}`"
                      for m in self.missing]
        return "\n".join(lines) + "\n"

    def latex(self) -> str:
        cols = ["arm", *self.columns, "examples"]
        lines = [r"\begin{tabular}{l" + "r" * (len(cols) - 1) + "}", r"\toprule",
                 " & ".join(_tex(c) for c in cols) + r" \\", r"\midrule"]
        for row in self.rows():
            cells = [_tex(row["arm"]), *(_pm(row[c], row[f"{c}_std"], tex=True) for c in self.columns),
                     _num(row["sft_examples"], 0)]
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines) + "\n"


def collect(sweep_dir: Path) -> Summary:
    state = _read_json(sweep_dir / STATE_FILE) or {"jobs": {}}
    jobs = dict(state["jobs"])
    for job_dir in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir()):
        jobs.setdefault(job_dir.name, {"overrides": job_overrides(job_dir), "status": "unknown"})
        jobs[job_dir.name].setdefault("dir", str(job_dir))
    varying = varying_keys([job.get("overrides") or [] for job in jobs.values()])
    arms: dict[str, ArmResult] = {}
    columns: list[str] = []
    baselines: dict[str, dict[str, float]] = {}
    missing = []
    for num, job in sorted(jobs.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0):
        overrides = job.get("overrides") or []
        report = _job_report(Path(job["dir"])) if job.get("dir") else None
        if report is None:
            missing.append({"job": num, "arm": arm_name(overrides, varying), "overrides": overrides,
                            "status": job.get("status", "missing")})
            continue
        name = arm_name(overrides, varying)
        arm = arms.setdefault(name, ArmResult(name))
        lemma = report["results"].get("lemma", {})
        for col in [*report["benchmarks"], "average"]:
            if col not in columns:
                columns.append(col)
            if lemma.get(col) is not None:
                arm.scores[col].append(float(lemma[col]))
        arm.examples.append(int(report.get("data", {}).get("build", {}).get("examples", 0)))
        arm.seeds.append(next((o for o in overrides if o.startswith("seed=")), "seed=default"))
        for base_arm in ("base", "sft"):
            if base_arm in report["results"] and report["results"][base_arm]["title"] not in baselines:
                r = report["results"][base_arm]
                baselines[r["title"]] = {k: v for k, v in r.items() if isinstance(v, (int, float))}
    if "average" in columns:
        columns.remove("average")
        columns.append("average")
    return Summary(sweep_dir, columns, list(arms.values()), baselines, missing, _references(jobs))


def _references(jobs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The sweep's published rows by arm override (`reference_results:` of the sweep YAML), from a job's config."""
    for job in jobs.values():
        config = Path(job.get("dir") or "") / ".hydra" / "config.yaml"
        if job.get("dir") and config.is_file():
            found = OmegaConf.to_container(OmegaConf.load(config), resolve=False).get("reference_results") or {}
            return {str(k): dict(v) for k, v in found.items()}
    return {}


def write_summary(sweep_dir: Path) -> Summary:
    summary = collect(sweep_dir)
    rows = summary.rows()
    with (sweep_dir / "summary.csv").open("w", newline="") as fh:
        fields = ["arm", "seeds", *[x for c in summary.columns for x in (c, f"{c}_std")], "sft_examples", "paper_row",
                  "paper_average"]
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (sweep_dir / "summary.md").write_text(summary.markdown())
    (sweep_dir / "summary.tex").write_text(summary.latex())
    if rows:
        plot_bars(summary, sweep_dir / "summary.png")
        plot_scale(summary, sweep_dir / "data_scale.png")
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir())
    if varying_keys([job_overrides(j) for j in jobs]) <= PAIRED_KEYS:
        from lemma.paired import write as write_paired  # runs whose reports compare matched arms (toy science)

        write_paired(sweep_dir, jobs)
    return summary


def plot_bars(summary: Summary, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = summary.rows(), summary.columns
    width = 0.8 / max(1, len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(cols) * max(1, len(rows)) / 2), 4))
    for i, row in enumerate(rows):
        xs = [j + i * width for j in range(len(cols))]
        ax.bar(xs, [row[c] or 0 for c in cols], width, yerr=[row[f"{c}_std"] or 0 for c in cols], capsize=3,
               label=row["arm"])
    ax.set_xticks([j + width * (len(rows) - 1) / 2 for j in range(len(cols))], cols)
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_scale(summary: Summary, path: Path) -> None:
    """Average accuracy against SFT set size, for `data_scale` sweeps (arms that differ in build.fraction)."""
    points = sorted((r["sft_examples"], r["average"], r["average_std"] or 0) for r in summary.rows()
                    if "build.fraction" in r["arm"] and r.get("average") is not None)
    if len(points) < 2:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points], marker="o", capsize=3)
    ax.set_xlabel("SFT examples")
    ax.set_ylabel("average accuracy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------- small helpers
def job_overrides(job_dir: Path) -> list[str]:
    """The overrides Hydra recorded for one job folder of a sweep (empty where it recorded none)."""
    path = job_dir / ".hydra" / "overrides.yaml"
    return [str(o) for o in OmegaConf.load(path)] if path.exists() else []


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _job_report(job_dir: Path) -> dict[str, Any] | None:
    """The report a job copied into its folder (lemma.stages.report), or None while it has none (or half of one)."""
    try:
        return read_report(job_dir)
    except (OSError, json.JSONDecodeError):
        return None


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def _std(values: list[float]) -> float | None:
    return round(statistics.stdev(values), 2) if len(values) > 1 else (0.0 if values else None)


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _pm(mean: float | None, std: float | None, tex: bool = False) -> str:
    if mean is None:
        return "-"
    sep = r" $\pm$ " if tex else " ± "
    return f"{mean:.1f}{sep}{std:.1f}" if std else f"{mean:.1f}"


def _tex(text: str) -> str:
    return text.replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lemma.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder (outputs/sweeps/<name>/<time>)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"error: {args.sweep_dir} is not a folder", file=sys.stderr)
        return 2
    summary = write_summary(args.sweep_dir)
    print(summary.markdown())
    print(f"wrote {args.sweep_dir}/summary.csv, summary.md, summary.tex", file=sys.stderr)
    return 1 if summary.missing else 0


if __name__ == "__main__":
    sys.exit(main())
