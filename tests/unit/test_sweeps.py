"""Every sweeps/*.yaml composes, and every job it would launch composes and validates (nothing is run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lemma.config import REPO_ROOT, validate
from lemma.sweep import arm_name, expand_jobs, varying_keys

SWEEPS = sorted((REPO_ROOT / "sweeps").glob("*.yaml"))


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
        validate(job_cfg)  # teachers too: it runs the paper's recipe, whose API key the pre-flight asks for


def test_ablate_correction_arms(tmp_path):
    cfg = _compose("ablate_correction", [], tmp_path, hydra=True)
    jobs = expand_jobs(cfg)
    arms = sorted({arm_name(j, varying_keys(jobs)) for j in jobs})
    assert arms == ["correction=fix_only", "correction=fresh_only", "correction=mix"]


PRESET = "experiment=lemma_llama3_8b"


def _content(cfg) -> str:
    """The composed job config as text, without Hydra's own node: what decides what a job does."""
    data = OmegaConf.to_container(cfg, resolve=False)
    data.pop("hydra", None)
    data.pop("reference_results", None)  # published rows for the summary table: not part of what a job does
    return json.dumps(data, sort_keys=True, default=str)


@pytest.mark.parametrize("sweep", SWEEPS, ids=lambda p: p.stem)
def test_sweep_with_a_preset_gives_distinct_jobs(sweep, tmp_path):
    """`--config-name <sweep> experiment=lemma_llama3_8b`: the preset applies to every job and no two jobs collapse.

    A sweep that varied the `experiment` group itself (ablate_augmentation did) loses its arms to the command line's
    experiment=... and runs the same job twice per seed.
    """
    planned = expand_jobs(_compose(sweep.stem, [], tmp_path, hydra=True))
    jobs = expand_jobs(_compose(sweep.stem, [PRESET], tmp_path, hydra=True))
    assert len(jobs) == len(planned) >= 2, f"{len(planned)} jobs collapse to {len(jobs)} with {PRESET}"
    composed = [_compose(sweep.stem, job, tmp_path) for job in jobs]
    assert all(c.train.global_batch == 256 and c.model.name == "llama3_8b" for c in composed), "preset not applied"
    assert len({_content(c) for c in composed}) == len(jobs)


WANDB_DIR = REPO_ROOT / "sweeps" / "wandb"


def _wandb_jobs(spec: Path) -> list[list[str]]:
    """The run.py arguments W&B's agent would pass for each grid point (its own rendering when wandb is installed)."""
    data = yaml.safe_load(spec.read_text())
    assert data["program"] == "run.py" and data["method"] == "grid" and "${args_no_hyphens}" in data["command"]
    fixed = [c for c in data["command"] if not str(c).startswith("${")]
    grid: list[dict] = [{}]
    for key, values in data["parameters"].items():
        grid = [{**g, key: v} for g in grid for v in values["values"]]
    try:
        from wandb.sdk.launch.sweeps.utils import create_sweep_command_args
    except ImportError:  # pragma: no cover - wandb is a dev dependency
        def create_sweep_command_args(command):
            return {"args_no_hyphens": [f"{k}={a['value']}" for k, a in command["args"].items()]}
    return [fixed + create_sweep_command_args({"args": {k: {"value": v} for k, v in g.items()}})["args_no_hyphens"]
            for g in grid]


def test_every_hydra_sweep_has_a_wandb_twin_with_the_same_jobs(tmp_path):
    """sweeps/wandb/<name>.yaml exists for every sweep (the README documents them) and runs exactly its jobs.

    Not parametrized over a glob: a missing folder or file fails here instead of collecting zero tests.
    """
    twins = sorted(p.stem for p in WANDB_DIR.glob("*.yaml"))
    assert twins == sorted(p.stem for p in SWEEPS), f"sweeps/wandb/ holds {twins or 'nothing'}"
    for sweep in SWEEPS:
        hydra_jobs = expand_jobs(_compose(sweep.stem, [], tmp_path, hydra=True))
        expected = sorted(_content(_compose(sweep.stem, job, tmp_path)) for job in hydra_jobs)
        got = []
        for args in _wandb_jobs(WANDB_DIR / sweep.name):
            with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
                cfg = compose(config_name="config", overrides=[f"paths.root={tmp_path}", *args])
            assert cfg.logger.kind == "wandb" and cfg.logger.group == sweep.stem
            cfg.logger = _compose(sweep.stem, [], tmp_path).logger  # the Hydra sweep logs nowhere by default
            got.append(_content(cfg))
        assert sorted(got) == expected, sweep.stem


def test_paper_rows_of_an_ablation_sweep_live_in_its_yaml(tmp_path):
    cfg = _compose("ablate_correction", [], tmp_path, hydra=True)
    refs = OmegaConf.to_container(cfg.reference_results)
    assert refs["correction=fix_only"]["title"] == "w/o Fresh & Restart" and refs["correction=mix"]["average"] == 62.4
    paper = _compose("ablate_correction", ["benchmark=paper"], tmp_path)
    assert paper.benchmark.reference_results["SFT (paper, LLaMA3-8B)"]["average"] == 49.1


def test_the_summary_takes_its_paper_rows_from_the_jobs_config(tmp_path):
    from lemma.sweep import _references

    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text("reference_results:\n  correction=mix: {title: LEMMA, average: 62.4}\n")
    assert _references({"0": {"dir": str(job)}}) == {"correction=mix": {"title": "LEMMA", "average": 62.4}}
    assert _references({"0": {"dir": str(tmp_path / "missing")}}) == {}
