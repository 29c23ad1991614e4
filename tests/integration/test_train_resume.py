"""SIGKILL the training child after a checkpoint, rerun: it resumes (and says so) and ends where an uninterrupted
run ends (final loss within 1e-6 relative; every step logged once). A retry whose checkpoints vanished stops (b1).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from lemma.training.checkpoints import META, CheckpointError
from lemma.config_models import TrainConfig
from lemma.training.job import TrainJob
from lemma.training.launch import run_job, start, write

pytestmark = pytest.mark.slow
STEPS = 30


def _job(root: Path, model: Path, rows: Path, name: str) -> TrainJob:
    return TrainJob(model_path=str(model), data_path=str(rows), output_dir=str(root / name / "model"),
                    checkpoint_dir=str(root / name / "work"),
                    train=TrainConfig(max_steps=STEPS, global_batch=8, lr=3e-3, log_every=1, save_every=5,
                                      keep_checkpoints=2, seed=0))


def _kill_after_first_checkpoint(job: TrainJob, folder: Path) -> int:
    job, job_path, _ = write(job, folder)
    proc = start(job_path)
    marker = job.checkpoints / "checkpoint-5" / META
    deadline = time.monotonic() + 120
    while not marker.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # the child's own session: the process this test started
    proc.communicate()
    return proc.returncode


def test_kill_and_resume_matches_uninterrupted(tmp_path: Path) -> None:
    from lemma.training.synthetic import tiny_setup

    model, rows = tiny_setup(tmp_path, n=64, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=2)
    straight = run_job(_job(tmp_path, model, rows, "straight"), tmp_path / "straight")

    job = _job(tmp_path, model, rows, "killed")
    assert _kill_after_first_checkpoint(job, tmp_path / "killed") == -signal.SIGKILL
    assert not (job.checkpoints / "metrics.json").exists()  # it really died mid-run

    resumed = run_job(job, tmp_path / "killed")
    log_text = (job.checkpoints / "worker.log").read_text()
    assert "resuming from checkpoint" in log_text
    assert resumed["resumed_from_step"] >= 5 and resumed["steps"] == STEPS
    assert resumed["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-6)
    steps = [json.loads(line)["step"] for line in (job.checkpoints / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1))

    # a retry that expects a checkpoint (the marker) and finds none stops instead of restarting from step 0
    for path in job.checkpoints.glob("checkpoint-*"):
        shutil.rmtree(path)
    with pytest.raises(CheckpointError, match="Refusing to restart from step 0"):
        run_job(job, tmp_path / "killed")
