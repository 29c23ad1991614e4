"""Training curves while training runs: the driver hands each new train_log.jsonl row on before the worker ends.

The worker here is a small script standing in for lemma.training.worker at its edge: it appends a row and prints
its log line, like LogCallback, then waits until the driver has acknowledged that row (the callback touches a
file) before writing the next. If rows only reached the tracker after the worker exited, it would time out and
say so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from lemma.training import launch
from lemma.training.follow import TrainLogFollower

WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    log, ack = Path(sys.argv[1]), Path(sys.argv[2])
    for step in (5, 10, 15):
        with log.open("a") as fh:
            fh.write(json.dumps({"step": step, "loss": 1.0 / step, "lr": 0.1, "epoch": 0.1}) + "\\n")
        print(f"step {step} loss", flush=True)
        deadline = time.time() + 20
        while not Path(f"{ack}.{step}").exists() and time.time() < deadline:
            time.sleep(0.02)
        print("acked" if Path(f"{ack}.{step}").exists() else "NOT ACKED", step, flush=True)
""")


def test_rows_reach_the_callback_while_the_worker_runs(tmp_path):
    log_file, ack = tmp_path / "train_log.jsonl", tmp_path / "ack"
    seen: list[dict] = []

    def on_row(row: dict) -> None:
        seen.append(row)
        Path(f"{ack}.{row['step']}").touch()

    follower = TrainLogFollower(log_file, on_row)
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(log_file), str(ack)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    launch.wait(proc, tmp_path / "worker.log", follower.poll)
    output = (tmp_path / "worker.log").read_text()
    assert "NOT ACKED" not in output and output.count("acked") == 3
    assert [r["step"] for r in seen] == [5, 10, 15] and seen[0]["loss"] == 0.2


def test_follower_reads_complete_lines_and_survives_a_trimmed_log(tmp_path):
    path = tmp_path / "train_log.jsonl"
    rows: list[dict] = []
    follower = TrainLogFollower(path, rows.append)
    assert follower.poll() == 0  # no file yet
    path.write_text(json.dumps({"step": 1, "loss": 2.0}) + "\n" + '{"step": 2, "lo')  # a row being written
    assert follower.poll() == 1 and [r["step"] for r in rows] == [1]
    with path.open("a") as fh:
        fh.write('ss": 1.5}\n')
    assert follower.poll() == 1 and rows[-1] == {"step": 2, "loss": 1.5}
    path.write_text(json.dumps({"step": 1, "loss": 2.0}) + "\n")  # resume trimmed the log back to step 1
    assert follower.poll() == 0  # already delivered
    with path.open("a") as fh:
        fh.write(json.dumps({"step": 3, "loss": 1.0}) + "\n")
    assert follower.poll() == 1 and rows[-1]["step"] == 3


def test_a_failing_callback_does_not_stop_training(tmp_path):
    path = tmp_path / "train_log.jsonl"
    path.write_text(json.dumps({"step": 1, "loss": 2.0}) + "\n")

    def broken(row: dict) -> None:
        raise ConnectionError("tracker offline")

    assert TrainLogFollower(path, broken).poll() == 1


def test_wandb_tracker_logs_steps_live_and_does_not_repeat_them_after_training(tmp_path):
    from lemma.tracking import WandbTracker

    class Run:  # the wandb run object, at the edge
        def __init__(self) -> None:
            self.logged: list[dict] = []
            self.axes: list[tuple] = []

        def log(self, metrics: dict) -> None:
            self.logged.append(metrics)

        def define_metric(self, name: str, step_metric: str) -> None:
            self.axes.append((name, step_metric))

    tracker = object.__new__(WandbTracker)
    tracker.run, tracker._live_steps = Run(), {}
    tracker.log_train_step("train.lemma", {"step": 5, "loss": 1.2, "lr": 1e-5, "epoch": 0.1})
    tracker.log_train_step("train.lemma", {"step": 10, "loss": 1.0, "lr": 1e-5, "epoch": 0.2})
    (tmp_path / "train_log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n"
                                                      for s in (5, 10, 15)))
    tracker.log_node("train.lemma", tmp_path, {"stats": {"final_loss": 0.9}, "seconds": 3.0})
    steps = [m["train.lemma/step"] for m in tracker.run.logged if "train.lemma/step" in m]
    assert steps == [5, 10, 15]  # 15 came from the file; 5 and 10 were not logged twice
    assert tracker.run.axes == [("train.lemma/*", "train.lemma/step")]
