"""Every sweeps/*.yaml composes, and every job it would launch composes and validates (nothing is run)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from lemma.config import REPO_ROOT, validate
from lemma.sweep import arm_name, expand_jobs, varying_keys

SWEEPS = sorted((REPO_ROOT / "sweeps").glob("*.yaml"))
NEEDS_REAL_DATA = {"teachers"}  # arms that compose but need API keys / GPUs to run


def _compose(name: str, overrides: list[str], tmp_path: Path, hydra: bool = False):
    with initialize_config_dir(config_dir=str(REPO_ROOT / "sweeps"), version_base="1.3"):
        return compose(config_name=name, overrides=[f"hydra.searchpath=[file://{REPO_ROOT / 'conf'}]",
                                                    f"paths.root={tmp_path}", *overrides], return_hydra_config=hydra)


def test_every_ablation_of_the_issue_has_a_sweep():
    names = {p.stem for p in SWEEPS}
    assert {"ablate_correction", "ablate_errors", "ablate_augmentation", "ablate_truncation", "ablate_smoothing",
            "data_scale", "seeds", "teachers"} <= names


@pytest.mark.parametrize("sweep", SWEEPS, ids=lambda p: p.stem)
def test_sweep_and_each_job_compose(sweep, tmp_path):
    cfg = _compose(sweep.stem, [], tmp_path, hydra=True)
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    jobs = expand_jobs(cfg)
    assert len(jobs) >= 2
    seeds = {o for job in jobs for o in job if o.startswith("seed=")}
    assert len(seeds) >= 2, "every sweep runs with seeds"
    varying = varying_keys(jobs)
    assert len({arm_name(j, varying) for j in jobs}) == len(jobs) // max(1, len(seeds))
    for job in jobs:
        job_cfg = _compose(sweep.stem, job, tmp_path)
        if sweep.stem not in NEEDS_REAL_DATA:
            validate(job_cfg)


def test_ablate_correction_arms(tmp_path):
    cfg = _compose("ablate_correction", [], tmp_path, hydra=True)
    jobs = expand_jobs(cfg)
    arms = sorted({arm_name(j, varying_keys(jobs)) for j in jobs})
    assert arms == ["correction=fix_only", "correction=fresh_only", "correction=mix"]


WANDB_SWEEPS = sorted((REPO_ROOT / "sweeps" / "wandb").glob("*.yaml"))


@pytest.mark.parametrize("spec", WANDB_SWEEPS, ids=lambda p: p.stem)
def test_wandb_sweep_commands_compose(spec, tmp_path):
    """W&B's controller needs the server; we check the run.py commands it would issue instead."""
    data = yaml.safe_load(spec.read_text())
    assert data["program"] == "run.py" and "${args_no_hyphens}" in data["command"]
    grid = [[]]
    for key, values in data["parameters"].items():
        grid = [g + [f"{key}={v}"] for g in grid for v in values["values"]]
    for overrides in grid:
        with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
            validate(compose(config_name="config", overrides=[f"paths.root={tmp_path}", *overrides]))
