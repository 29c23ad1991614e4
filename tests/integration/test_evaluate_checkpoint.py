"""Evaluate any checkpoint: `model=checkpoint model.path=<dir> arms=[base]`, with the row labelled by that path.

Also `--help`: the config groups and their options, never the schemas (`base_data`, ...) Hydra lists by itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lemma.stages.report import ARM_TITLES, arm_title
from lemma.training.synthetic import tiny_setup
from tests.integration.conftest import run_cli

pytestmark = pytest.mark.integration


def test_row_labels_name_the_model_not_a_warm_up(make_cfg):
    assert arm_title(make_cfg("model=checkpoint", "model.path=/ckpt/lemma-8b"), "base") == "/ckpt/lemma-8b"
    assert arm_title(make_cfg("model=llama3_8b"), "base") == "llama3_8b (meta-llama/Meta-Llama-3-8B)"
    assert arm_title(make_cfg(), "base") == ARM_TITLES["base"]  # the tiny model really is warmed up
    assert arm_title(make_cfg("model=checkpoint", "model.path=/ckpt/x"), "lemma") == ARM_TITLES["lemma"]


def test_help_lists_groups_and_options_only(tmp_path):
    out = run_cli("--help", cwd=tmp_path).stdout
    assert "base_" not in out
    groups = {line.split(":")[0]: line for line in out.splitlines() if ": " in line and not line.startswith(" ")}
    assert "gsm8k_math" in groups["data"] and "checkpoint" in groups["model"] and "self_only" in groups["build"]
    assert "tiny (default)" in groups["model"]


def test_evaluate_a_checkpoint_folder_end_to_end(tmp_path):
    model, _ = tiny_setup(tmp_path / "ckpt", n=32, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2)
    root = tmp_path / "out"
    proc = run_cli(f"paths.root={root}", "model=checkpoint", f"model.path={model}", "arms=[base]", "benchmark=gsm8k",
                   "benchmark.limit=3", "benchmark.max_new_tokens=8", "generation.backend=auto", cwd=tmp_path)
    (report_dir,) = [p.parent for p in (root / "runs").glob("*/*/report.json")]
    report = json.loads((report_dir / "report.json").read_text())
    assert list(report["results"]) == ["base"] and report["results"]["base"]["title"] == str(model)
    assert f"| {model} |" in (report_dir / "report.md").read_text()
    lineage = json.loads((report_dir / "lineage.json").read_text())["computed"]
    assert "evaluate.base" in lineage and not any(n.startswith(("train", "sample")) for n in lineage)
    assert Path(str(model)).name in proc.stdout  # the table printed at the end names it too
