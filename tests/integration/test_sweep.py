"""A real multirun: ablate_correction on the small embedded default, its summary, and resuming a killed sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lemma.config import REPO_ROOT
from lemma.sweep import main as summarize
from tests.integration.conftest import SMALL, run_cli

pytestmark = pytest.mark.integration
SWEEP = ("--config-dir", str(REPO_ROOT / "sweeps"), "--config-name", "ablate_correction")


def _args(root: Path, sweep_dir: Path) -> list[str]:
    return [f"paths.root={root}", f"hydra.sweep.dir={sweep_dir}", "hydra.sweeper.params.seed=0", *SMALL]


def _lineage(job_dir: Path) -> dict:
    return json.loads((job_dir / "lineage.json").read_text())


def test_ablate_correction_shares_teacher_work_and_summarises(small_root: Path, tmp_path: Path):
    sweep_dir = tmp_path / "sweep"
    run_cli(*_args(small_root, sweep_dir), cwd=tmp_path, config=SWEEP)
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert len(jobs) == 3
    for job in jobs:  # classify, inject and locate are built at most once (small_root holds them already)
        lineage = _lineage(job)
        if job.name != "0":
            assert {"classify", "inject", "locate"} <= set(lineage["cached"])
        assert "correct" in lineage["computed"] + lineage["cached"]
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert {j["status"] for j in state["jobs"].values()} <= {"done", "cached"}
    for name in ("summary.csv", "summary.md", "summary.tex", "summary.png"):
        assert (sweep_dir / name).stat().st_size > 0, name
    rows = (sweep_dir / "summary.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == ["correction=fix_only", "correction=fresh_only", "correction=mix"]
    for row in rows:
        assert row.split(",")[2] != "", "each arm has a score from its report"
    assert "w/o Fresh & Restart" in (sweep_dir / "summary.md").read_text()


def test_killed_sweep_resumes_without_recomputing(small_root: Path, tmp_path: Path):
    sweep_dir = tmp_path / "sweep"
    cmd = [sys.executable, str(REPO_ROOT / "run.py"), *SWEEP, *_args(small_root, sweep_dir),
           "correction.truncate=false"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 400
    state_file = sweep_dir / "sweep.json"
    while time.time() < deadline:
        state = json.loads(state_file.read_text()) if state_file.exists() else {"jobs": {}}
        if any(j.get("status") in ("done", "cached") for j in state["jobs"].values()):
            break
        assert proc.poll() is None, "sweep ended before a job finished"
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert summarize([str(sweep_dir)]) == 1, "a partial sweep lists missing arms (exit 1)"
    assert "rerun only these" in (sweep_dir / "summary.md").read_text()

    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True, timeout=600)
    first = _lineage(sweep_dir / "0")
    assert first["computed"] == [], "the finished arm is not recomputed"
    assert summarize([str(sweep_dir)]) == 0
    rows = (sweep_dir / "summary.csv").read_text().splitlines()[1:]
    assert len(rows) == 3
