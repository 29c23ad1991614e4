"""Checkpoint bookkeeping without training: complete vs incomplete, the lost-checkpoint error, topology (b1, b2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lemma.training import checkpoints
from lemma.config_models import TrainConfig
from lemma.training.job import TrainJob


def _job(tmp_path: Path, **kw: object) -> TrainJob:
    return TrainJob(model_path="m", data_path="d", output_dir="o", checkpoint_dir=str(tmp_path),
                    train=TrainConfig(seed=0, **kw))  # type: ignore[arg-type]


def _save(job: TrainJob, step: int, complete: bool = True) -> Path:
    path = job.checkpoints / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:
        checkpoints.mark_complete(job, path, step)
    return path


def test_fresh_start_and_newest_complete(tmp_path: Path) -> None:
    job = _job(tmp_path, keep_checkpoints=5)
    assert checkpoints.find_resume(job) is None
    _save(job, 5)
    _save(job, 10)
    _save(job, 15, complete=False)  # killed while saving
    point = checkpoints.find_resume(job)
    assert point is not None and point.step == 10 and point.meta["world_size"] == 1


def test_retry_that_lost_its_checkpoints_stops(tmp_path: Path) -> None:
    job = _job(tmp_path)
    first = _save(job, 5)
    import shutil

    shutil.rmtree(first)
    _save(job, 10, complete=False)
    with pytest.raises(checkpoints.CheckpointError, match="Refusing to restart from step 0"):
        checkpoints.find_resume(job)


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    job = _job(tmp_path, keep_checkpoints=2)
    for step in (2, 4, 6):
        _save(job, step)
    complete, incomplete = checkpoints.list_checkpoints(tmp_path)
    assert [p.name for p in complete] == ["checkpoint-4", "checkpoint-6"] and not incomplete


def test_topology_changes_are_explained(tmp_path: Path) -> None:
    z2 = _job(tmp_path, backend="deepspeed", zero_stage=2, nproc_per_node=2)
    _save(z2, 5)
    with pytest.raises(checkpoints.CheckpointError, match=r"2 processes.*now 4 processes.*DeepSpeed #3810"):
        checkpoints.find_resume(_job(tmp_path, backend="deepspeed", zero_stage=2, nproc_per_node=4))
    with pytest.raises(checkpoints.CheckpointError, match="train.global_batch=32, now 64"):
        checkpoints.find_resume(_job(tmp_path, backend="deepspeed", zero_stage=2, nproc_per_node=2, global_batch=64))
    assert checkpoints.find_resume(z2) is not None


def test_torch_checkpoints_resume_at_another_world_size(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _save(_job(tmp_path), 5)
    point = checkpoints.find_resume(_job(tmp_path, nproc_per_node=2))
    assert point is not None and "exact" in caplog.text


def test_saved_weights_are_checked(tmp_path: Path) -> None:
    """b3: an empty or truncated save (ZeRO-3 without 16-bit gathering) is caught; a good one reloads."""
    import torch
    from safetensors.torch import save_file

    from lemma.config import TinyModelConfig
    from lemma.model.tiny import build_tiny
    from lemma.training.synthetic import corpus, make_pairs

    build_tiny(corpus(make_pairs(16)), TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1,
                                                       num_heads=2), tmp_path / "m", seed=0)
    from lemma.model.loading import count_parameters, load_model

    n = count_parameters(load_model(tmp_path / "m"))
    assert checkpoints.verify_saved_model(tmp_path / "m", n) == {"num_params": n, "reload_ok": True}
    save_file({"model.norm.weight": torch.ones(32)}, str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(checkpoints.CheckpointError, match="save is incomplete"):
        checkpoints.verify_saved_model(tmp_path / "m", n)
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(checkpoints.CheckpointError, match="no \\*.safetensors"):
        checkpoints.verify_saved_model(tmp_path / "m", n)
