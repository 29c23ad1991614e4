"""`python run.py` exactly as a new user runs it: the embedded default, from scratch.

Pins what the default must show: the four arms (base, sft, clean, lemma) in the printed table, the warm-up gate
measured on the 500 dev problems, and matched arms (the same steps and rows for every trained arm, the same
trajectory count in lemma as clean twins in clean). Accuracies are not pinned: they depend on the CPU's float
arithmetic; the counts and keys below do not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_default_run_prints_every_arm_and_the_gate(tmp_path: Path) -> None:
    proc = run_cli(f"paths.root={tmp_path / 'out'}", cwd=tmp_path, timeout=2400)
    for title in ("Base model (warm-up)", "SFT on references", "Clean control (same rows, no errors)", "LEMMA"):
        assert f"| {title} |" in proc.stdout
    assert "Warm-up gate" in proc.stdout and "Learning from errors: mechanism and budget" in proc.stdout
    run_dir = next((tmp_path / "out" / "runs").glob("*/*"))
    report = json.loads((run_dir / "report.json").read_text())
    gate = report["gate"]
    assert (gate["n"], gate["min_acc"], gate["max_acc"], gate["min_lookup_share"]) == (500, 40.0, 70.0, 0.5)
    assert sum(gate["errors"].values()) == 500 - round(gate["dev_acc"] * 5)
    mech = report["mechanism"]
    trained = {arm: (mech[arm]["steps"], mech[arm]["clean_solutions_seen"] + mech[arm]["trajectory_rows"])
               for arm in ("sft", "clean", "lemma")}
    assert trained == {arm: (120, 120 * 32) for arm in ("sft", "clean", "lemma")}, f"arms are not matched: {trained}"
    assert (mech["lemma"]["trajectory_rows"], mech["clean"]["trajectory_rows"], mech["sft"]["trajectory_rows"]) == (
        round(0.3 * 3840), 0, 0)
    assert mech["lemma"]["clean_solutions_seen"] == 3840 - 1152 and mech["clean"]["clean_solutions_seen"] == 3840
    per_problem = json.loads((run_dir / "per_problem.json").read_text())
    assert {arm: len(v) for arm, v in per_problem["arms"].items()} == {a: 1000 for a in ("base", "sft", "clean", "lemma")}
    for arm in ("base", "sft", "clean", "lemma"):
        sampled = report["details"][arm]["relations"]["sampled"]
        assert sampled["temperature"] == 0.7 and set(report["details"][arm]["relations"]["acc_by_depth"]) >= {"2", "3"}
