"""A scheduler's signal stops the whole run: SIGTERM to `python run.py` during `train` leaves no process of the run
15 s later, frees the artifact lock, and the rerun resumes from the last complete checkpoint.

The run trains on 2 processes (torchrun: a launcher and two workers in their own session), as the issue saw it:
before, run.py exited and the three kept training, re-parented to init, into the artifact's work folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lemma import signals
from lemma.config import REPO_ROOT
from tests.integration.conftest import SMALL

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STOPPED_WITHIN_S = 15.0
TRAIN = ["arms=[base,sft]", "stage=train", "train.nproc_per_node=2", "train.save_every=20"]
SIZES = [o for o in SMALL if not o.startswith("benchmark.")]  # stage=train evaluates nothing


def _command(root: Path, steps: int) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "run.py"), f"paths.root={root}", *SIZES, *TRAIN,
            f"train.max_steps={steps}"]


def _start(root: Path, steps: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(_command(root, steps), cwd=root.parent, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})


def _train_checkpoints(root: Path) -> set[Path]:
    return set((root / "artifacts" / "train").glob(".work-*/checkpoint-*/lemma_checkpoint.json"))


def _wait_for_checkpoint(proc: subprocess.Popen, root: Path, log: Path, earlier: set[Path] = frozenset()) -> None:
    """Until this run's train stage (not the base warm-up, not an earlier run's) has a complete checkpoint."""
    deadline = time.monotonic() + 600
    while not _train_checkpoints(root) - earlier:
        assert proc.poll() is None, f"run ended before train checkpointed:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "no train checkpoint within 10 minutes"
        time.sleep(0.05)


def _run_processes(proc: subprocess.Popen, root: Path) -> list[signals.Proc]:
    """run.py's process tree now, plus anything whose command line names this run's output root."""
    tree = {p.pid: p for p in signals.descendants(proc.pid)}
    tree.update({p.pid: p for p in signals.process_table().values() if str(root) in p.command})
    return list(tree.values())


def _stop_and_measure(proc: subprocess.Popen, root: Path, sig: int) -> tuple[list[signals.Proc], float, int]:
    """Send `sig` to run.py alone (as SLURM and `timeout` do); (processes before, seconds until all gone, exit)."""
    before = _run_processes(proc, root)
    assert any("lemma.training.worker" in p.command for p in before), [p.command for p in before]
    assert any("torch.distributed.run" in p.command for p in before)
    start = time.monotonic()
    os.kill(proc.pid, sig)
    code = proc.wait(timeout=60)
    pids = {p.pid for p in before}
    while time.monotonic() - start < STOPPED_WITHIN_S + 5:
        left = [p for p in signals.process_table().values()
                if (p.pid in pids or str(root) in p.command) and p.state not in ("Z", "X")]
        if not left:
            break
        time.sleep(0.1)
    return before, time.monotonic() - start, code


def _lock_is_free(root: Path) -> bool:
    for lock in (root / "artifacts" / ".locks").glob("train-*.lock"):
        with lock.open("a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
    return True


def _kill_leftovers(root: Path) -> None:
    for p in signals.process_table().values():
        if str(root) in p.command:
            os.kill(p.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One output root: the later tests reuse the problems and base artifacts the first one built."""
    return tmp_path_factory.mktemp("signals") / "out"


def test_sigterm_during_train_stops_everything_and_the_rerun_resumes(root: Path, tmp_path: Path):
    log = tmp_path / "first.log"
    root.parent.mkdir(parents=True, exist_ok=True)
    proc = _start(root, 600, log)
    try:
        _wait_for_checkpoint(proc, root, log)
        before, seconds, code = _stop_and_measure(proc, root, signal.SIGTERM)
        survivors = [p for p in before if p.pid in signals.process_table()
                     and signals.process_table()[p.pid].state not in ("Z", "X")]
        assert survivors == [] and seconds <= STOPPED_WITHIN_S, (survivors, seconds)
        assert code == 128 + signal.SIGTERM
        output = log.read_text()
        assert "lemma stopped by SIGTERM in train.sft" in output and "Finished work is kept" in output
        assert "Traceback" not in output
        assert _lock_is_free(root)
        assert not list((root / "artifacts" / "train").glob("*/manifest.json")), "train must not have committed"
    finally:
        _kill_leftovers(root)

    rerun = subprocess.run(_command(root, 600), cwd=root.parent, capture_output=True, text=True, timeout=900,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "resuming from checkpoint" in rerun.stdout + rerun.stderr
    (manifest,) = (root / "artifacts" / "train").glob("*/manifest.json")
    stats = json.loads(manifest.read_text())["stats"]
    assert stats["resumed_from_step"] >= 20 and stats["steps"] == 600


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
def test_sigint_and_sighup_stop_the_run_the_same_way(root: Path, tmp_path: Path, sig: int):
    log = tmp_path / "run.log"
    earlier = _train_checkpoints(root)
    proc = _start(root, 2000 + sig, log)  # a train artifact of its own; problems and base are cached
    try:
        _wait_for_checkpoint(proc, root, log, earlier)
        before, seconds, code = _stop_and_measure(proc, root, sig)
        assert seconds <= STOPPED_WITHIN_S and code == 128 + sig
        assert f"lemma stopped by {signal.Signals(sig).name}" in log.read_text()
        assert _lock_is_free(root)
    finally:
        _kill_leftovers(root)
