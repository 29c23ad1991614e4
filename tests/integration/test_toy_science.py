"""A scaled-down toy-science sweep (one seed, a few hundred problems): every variant composes, runs, and the sweep
writes its paired summary with a row per arm. The real sweep is run by hand (sweeps/toy_science.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import SMALL, run_cli

pytestmark = pytest.mark.integration

VARIANTS = ("mix", "fix_only", "fresh_only", "own_errors", "no_truncation", "masked", "equal_clean")


def test_toy_science_sweep_composes_and_writes_its_paired_summary(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    run_cli("--config-dir", "sweeps", "--config-name", "toy_science", f"paths.root={tmp_path / 'out'}",
            f"hydra.sweep.dir={sweep_dir}", "hydra.sweeper.params.seed=0", *SMALL, cwd=Path(__file__).parents[2],
            timeout=1500)
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert len(state["jobs"]) == len(VARIANTS)
    assert all(job["status"] in ("done", "cached") for job in state["jobs"].values()), state
    paired = (sweep_dir / "paired.md").read_text()
    rows = {line.split("|")[1].strip() for line in paired.splitlines() if line.startswith("| ") and "---" not in line}
    assert {"base", "sft", "clean", *VARIANTS} <= rows
    assert "## Success criteria" in paired and "LEMMA beats sft" in paired
    assert (sweep_dir / "paired.png").stat().st_size > 0
    # base and sft are built once for the seed: every job reuses the same artifacts
    keys = {json.loads((Path(job["dir"]) / "lineage.json").read_text())["lineage"]["train.sft"]
            for job in state["jobs"].values()}
    assert len(keys) == 1
