"""The whole pipeline through `python run.py` on a very small embedded default: report, caching, reuse, lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import SMALL, SmallRun, run_cli

pytestmark = pytest.mark.integration


def _lineage(stdout_root: Path) -> dict:
    runs = sorted(stdout_root.glob("runs/*/*/lineage.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(runs[-1].read_text())


def test_full_run_then_cached_then_fix_only(small_run: SmallRun, small_root: Path, tmp_path: Path):
    """The cold run is the session's shared `small_run` (read only); the rerun and fix_only run in this test's copy."""
    cold = small_run.root
    for title in ("Base model (warm-up)", "SFT on references", "Clean control (same rows, no errors)", "LEMMA"):
        assert f"| {title} |" in small_run.stdout
    lineage = _lineage(cold)
    assert lineage["cached"] == [] and "report" in lineage["computed"]

    report_dir = cold / "artifacts" / "report" / lineage["lineage"]["report"].split("/")[1]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["arms"] == ["base", "sft", "clean", "lemma"] and set(report["results"]) == set(report["arms"])
    gate = report["gate"]  # a 30-step model on 20 dev problems: its figures are fixed, and it misses the gate
    assert (gate["n"], gate["passed"], gate["min_acc"], gate["max_acc"]) == (20, False, 40.0, 70.0)
    assert sum(gate["errors"].values()) == 20 - round(gate["dev_acc"] * 20 / 100)
    mech = report["mechanism"]  # matched arms: 8 steps x 8 rows each, trajectories in round(0.3 x 64) slots
    assert {arm: (m["steps"], m["clean_solutions_seen"], m["trajectory_rows"]) for arm, m in mech.items()} == {
        "base": (None, None, None), "sft": (8, 64, 0), "clean": (8, 64, 0), "lemma": (8, 45, 19)}
    per_problem = json.loads((report_dir / "per_problem.json").read_text())
    assert {arm: len(v) for arm, v in per_problem["arms"].items()} == {a: 20 for a in ("base", "sft", "clean", "lemma")}
    data = report["data"]
    assert data["sample"]["attempts"] == 40
    assert data["build"]["examples"] > 0 and set(data["build"]["by_source"]) <= {"self", "injected"}
    assert report["stages"]["train.lemma"]["seconds"] > 0
    classify_dir = cold / "artifacts" / "classify" / lineage["lineage"]["classify"].split("/")[1]
    assert (classify_dir / "distribution.png").stat().st_size > 1000
    dist = json.loads((classify_dir / "distribution.json").read_text())
    assert dist["total"] == data["classify"]["labelled"]
    run_dirs = sorted(cold.glob("runs/*/*"), key=lambda p: p.stat().st_mtime)
    assert (run_dirs[-1] / "report.md").exists() and (run_dirs[-1] / "run.log").exists()

    again = run_cli(f"paths.root={small_root}", *SMALL, cwd=tmp_path)
    assert _lineage(small_root)["computed"] == [], "an identical rerun recomputes nothing"
    assert again.stdout.count("# LEMMA run report") == 1  # the report is printed once, the same as the cold run's
    assert again.stdout.count("| LEMMA |") == small_run.stdout.count("| LEMMA |") > 0

    run_cli(f"paths.root={small_root}", *SMALL, "correction=fix_only", cwd=tmp_path)
    fix = _lineage(small_root)
    assert set(fix["computed"]) == {"correct", "smooth", "build", "train.clean", "evaluate.clean", "train.lemma",
                                    "evaluate.lemma", "report"}
    assert {"problems", "base", "sample", "classify", "inject", "locate", "train.sft", "evaluate.sft",
            "evaluate.base"} <= set(fix["cached"])


def test_bad_config_fails_before_any_work(tmp_path: Path):
    for args, needle in [(["correction=fix_onlyy"], "fix_onlyy"), (["teacher.temprature=1"], "temprature"),
                         (["data=gsm8k_math", "model=llama3_8b", "benchmark=gsm8k"], "teacher=symbolic cannot serve")]:
        proc = run_cli(f"paths.root={tmp_path}", *args, cwd=tmp_path, check=False, timeout=120)
        assert proc.returncode != 0
        assert needle in proc.stdout + proc.stderr
        assert not (tmp_path / "artifacts").exists(), "nothing ran"


def test_stage_selection_builds_only_ancestors(tmp_path: Path):
    root = tmp_path / "out"
    run_cli(f"paths.root={root}", *SMALL, "stage=classify", cwd=tmp_path)
    built = {p.name for p in (root / "artifacts").iterdir() if not p.name.startswith(".")}
    assert built == {"problems", "base", "sample", "classify"}
