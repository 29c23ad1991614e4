"""logger=wandb offline: one run per job with the config (no secrets), stage metrics and tables, read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from lemma.tracking import run_id, scrub
from tests.integration.conftest import SMALL, run_cli
from tests.wandb_offline import read_offline_run

pytestmark = pytest.mark.integration


def test_scrub_and_deterministic_ids():
    assert scrub({"teacher": {"api_key_env": "OPENAI_API_KEY", "api_key": "sk-x"}}) == {
        "teacher": {"api_key_env": "OPENAI_API_KEY", "api_key": "<redacted>"}}
    assert run_id(["correction=fix_only", "seed=1"], "s") == run_id(["seed=1", "correction=fix_only"], "s")
    assert run_id(["seed=1"], "s") != run_id(["seed=2"], "s")


def test_offline_run_has_config_metrics_and_tables(small_root: Path, tmp_path: Path):
    """On a copy of the shared small run (conftest): every stage is cached, and the tracker logs cached nodes too."""
    assert small_root.is_relative_to(tmp_path)
    secret = "sk-test-DO-NOT-LEAK-4242"
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "OPENAI_API_KEY": secret, "WANDB_SILENT": "true"}
    run_cli(f"paths.root={small_root}", *SMALL, "logger=wandb", cwd=tmp_path, env=env)
    (run_dir,) = list((tmp_path / "wandb").glob("offline-run-*"))
    data = read_offline_run(run_dir)
    assert data["config"]["correction"]["name"] == "mix"
    assert data["config"]["teacher"]["api_key_env"] == "OPENAI_API_KEY"
    assert any(k.startswith("train.lemma/") for k in data["history_keys"])
    assert any(k.startswith("evaluate.lemma/") for k in data["history_keys"])
    assert "lemma/average" in data["summary"]
    assert any("trajectories" in t for t in data["tables"]) and any("generations" in t for t in data["tables"])
    for path in tmp_path.rglob("*"):  # small_root is under tmp_path
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert secret.encode() not in path.read_bytes(), path
