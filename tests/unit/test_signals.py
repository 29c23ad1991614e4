"""Stop signals become one exception; children are found (even re-parented ones) and ended within a bound; an
artifact lock outlives the driver exactly as long as a child that inherited it, or a watcher for an unkillable one."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lemma import signals
from lemma.artifacts import ArtifactStore
from lemma.errors import LemmaError

IGNORES_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); " \
               "time.sleep(60)"


def _python(code: str, **kw) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, **kw)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _gone(pid: int) -> bool:
    table = signals.process_table()
    return pid not in table or table[pid].state in ("Z", "X")


def test_a_stop_signal_raises_once_then_is_ignored_while_stopping():
    with signals.handle_stop_signals():
        with pytest.raises(signals.RunInterrupted) as err:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises as soon as the signal arrives
        assert err.value.signum == signal.SIGTERM and err.value.exit_code == 143
        assert err.value.headline == "stopped by SIGTERM" and isinstance(err.value, LemmaError)
        os.kill(os.getpid(), signal.SIGHUP)  # during the cleanup: logged, not raised
        time.sleep(0.05)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored


def test_a_child_that_ignores_sigterm_is_killed_within_the_bound():
    child = _python(IGNORES_TERM)
    start = time.monotonic()
    survivors = signals.stop_processes([signals.process_table()[child.pid]], grace_s=0.5, kill_wait_s=2)
    assert survivors == [] and time.monotonic() - start < 3
    assert child.wait(timeout=5) == -signal.SIGKILL


def test_workers_of_a_tracked_session_are_found_after_their_launcher_died():
    # a "launcher" in its own session starts a worker and exits: the worker is re-parented, no longer our descendant
    launcher = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', "
                               "'import time; time.sleep(60)']); print(p.pid, flush=True)"],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    worker = int(launcher.stdout.readline())
    launcher.wait(timeout=10)
    try:
        assert worker not in {p.pid for p in signals.descendants()}
        signals.track_session(launcher.pid)
        assert worker in {p.pid for p in signals.descendants()}
        assert signals.stop_session(launcher.pid, grace_s=2) == []
        assert _gone(worker)
    finally:
        signals.untrack_session(launcher.pid)
        if not _gone(worker):
            os.kill(worker, signal.SIGKILL)


def test_workers_in_sessions_of_their_own_are_found_by_the_job_file(tmp_path):
    """torchrun puts each worker in a session of its own; they all name the job file on their command line."""
    job = tmp_path / "job.yaml"
    launcher = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', "
                               "'import time; time.sleep(60)', sys.argv[1]], start_new_session=True); "
                               "print(p.pid, flush=True)", str(job)],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    worker = int(launcher.stdout.readline())
    launcher.wait(timeout=10)
    try:
        signals.track_session(launcher.pid)
        assert worker not in {p.pid for p in signals.descendants()}  # neither our descendant nor in that session
        signals.track_session(launcher.pid, marker=str(job))
        assert worker in {p.pid for p in signals.descendants()}
        assert signals.stop_session(launcher.pid, grace_s=2) == [] and _gone(worker)
    finally:
        signals.untrack_session(launcher.pid)
        if not _gone(worker):
            os.kill(worker, signal.SIGKILL)


def test_children_started_by_a_failing_stage_end_before_its_lock_is_released(tmp_path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(LemmaError) as err:
        with store.lock("train", "k1"), signals.children_stopped_on_failure("train.sft", "train/k1"):
            child = _python(IGNORES_TERM)
            raise LemmaError("boom")
    assert err.value.node == "train.sft"
    assert _gone(child.pid)
    child.wait(timeout=5)


def test_a_child_that_inherits_the_lock_keeps_it_after_the_driver_lets_go(tmp_path):
    store = ArtifactStore(tmp_path)
    lock_file = tmp_path / ".locks" / "train-k2.lock"
    with store.lock("train", "k2"):
        assert len(signals.held_lock_fds()) == 1
        child = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)"],
                                 stdout=subprocess.PIPE, text=True, pass_fds=signals.held_lock_fds())
        assert child.stdout.readline().strip() == "ready"
    assert signals.held_lock_fds() == ()
    try:
        assert _locked(lock_file), "the child still holds the lock"
        assert child.pid in {p.pid for p in signals.lock_holders(str(lock_file))}
    finally:
        child.kill()
        child.wait()
    assert not _locked(lock_file)


def test_an_unstoppable_child_leaves_the_lock_with_a_watcher_and_is_named(tmp_path):
    store = ArtifactStore(tmp_path)
    lock_file = tmp_path / ".locks" / "evaluate-k3.lock"
    stuck = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    survivor = signals.Proc(stuck.pid, os.getpid(), 0, "D", "python stuck-in-driver")
    with store.lock("evaluate", "k3"):
        watcher = signals.keep_locks_until_gone([survivor])
        error = signals.survivors_error([survivor], "evaluate/k3", watcher)
    text = str(error)
    assert f"pid {stuck.pid}" in text and f"kill -9 {stuck.pid}" in text and "evaluate/k3 stays held" in text
    try:
        assert _locked(lock_file)
    finally:
        stuck.kill()
        stuck.wait()
    deadline = time.monotonic() + 10
    while _locked(lock_file) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _locked(lock_file), "the watcher let go once the process was gone"


def _locked(path: Path) -> bool:
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False
