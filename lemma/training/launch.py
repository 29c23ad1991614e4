"""The driver side: tokenise once, write job.yaml, start the worker with an argv list, check what it saved.

One code path for every run (DESIGN.md §6): even the single-process CPU run is a child process, so what the tests
exercise is what a multi-GPU launch does. Launchers, chosen from the job:
- 1 process, torch backend: `python -m lemma.training.worker job.yaml`;
- N processes on one node, or DeepSpeed even on one GPU (it needs a process group and its environment):
  `python -m torch.distributed.run --standalone --nproc_per_node N -m ...` (torchrun; a free rendezvous port, so
  concurrent sweep jobs do not collide);
- several nodes under SLURM (one task per node, lemma.training.slurm): torchrun with a static rendezvous,
  `--nnodes N --node_rank <SLURM_NODEID> --master_addr/--master_port`, started here for node 0 and by the other
  nodes' host tasks for theirs;
- several nodes elsewhere: the DeepSpeed launcher with `--hostfile` (it reaches the nodes over ssh/pdsh),
  `--no_local_rank` and `--module`, so the worker never sees an appended `--local_rank`.
The child runs in its own session; its output is streamed into our log (Hydra's run.log) and `worker.log`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lemma import signals
from lemma.errors import LemmaError
from lemma.training import checkpoints, slurm
from lemma.training.follow import TrainLogFollower
from lemma.training.job import TrainJob, load_job, replace, save_job, validate
from lemma.training.slurm import NodeLaunch
from lemma.training.worker import LOG_FILE, METRICS_FILE

log = logging.getLogger("lemma.training.launch")

WORKER = "lemma.training.worker"


class TrainingFailed(LemmaError, RuntimeError):
    """The worker exited with an error; the message carries its last output lines."""


def command(job: TrainJob, job_path: Path, node: NodeLaunch | None = None) -> list[str]:
    """The argv list that starts the worker(s) for this job (never a shell string); `node`: this node's part of
    a multi-node launch under SLURM."""
    if node is not None:
        return node.torchrun(job.train.nproc_per_node, WORKER, job_path)
    if job.train.hostfile:
        return [sys.executable, "-m", "deepspeed.launcher.runner", "--hostfile", job.train.hostfile,
                "--num_nodes", str(job.train.nnodes), "--num_gpus", str(job.train.nproc_per_node),
                "--master_port", str(job.train.master_port), "--no_local_rank", "--module", WORKER, str(job_path)]
    if job.world_size == 1 and job.train.backend == "torch":
        return [sys.executable, "-m", WORKER, str(job_path)]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
            "--nproc_per_node", str(job.train.nproc_per_node), "-m", WORKER, str(job_path)]


def prepare(job: TrainJob) -> tuple[TrainJob, dict[str, Any]]:
    """Tokenise the rows into the work folder (cached by content); returns the job pointing at the tokens."""
    from lemma.model.loading import load_tokenizer
    from lemma.training.data import tokenize_to_cache

    tokenizer = load_tokenizer(job.model_path)
    path, stats = tokenize_to_cache(Path(job.data_path), tokenizer, job.train.max_seq_len, job.checkpoints)
    log.info("tokens: %s (%s)", path.name, "cached" if stats["cache_hit"] else "built")
    return replace(job, tokenized_path=str(path)), stats


def write(job: TrainJob, folder: Path) -> tuple[TrainJob, Path, dict[str, Any]]:
    """Validate, check the checkpoint folder, tokenise and write job.yaml into `folder`."""
    validate(job)
    job.checkpoints.mkdir(parents=True, exist_ok=True)
    checkpoints.find_resume(job)  # a lost checkpoint fails here, before any process starts
    job, stats = prepare(job)
    return job, save_job(job, Path(folder) / "job.yaml"), stats


def start(job_path: Path, env: dict[str, str] | None = None, node: NodeLaunch | None = None) -> subprocess.Popen:
    job = load_job(job_path)
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", **_wandb_env(job),
                 **(env or {})}
    argv = command(job, job_path, node)
    log.info("launch: %s", " ".join(argv))
    # its own session (a terminal's Ctrl-C reaches the driver only), tracked so a stop finds its re-parented workers;
    # it inherits the artifact lock, which so stays held while it runs, even if the driver is killed
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env,
                            start_new_session=True, pass_fds=signals.held_lock_fds())
    signals.track_session(proc.pid, marker=str(job_path))  # every worker's argv names the job file
    return proc


def _wandb_env(job: TrainJob) -> dict[str, str]:
    """A W&B run id derived from the artifact key: a resumed training continues its run (DESIGN.md §6)."""
    if job.report_to != "wandb" or not job.run_name:
        return {}
    run_id = "".join(c if c.isalnum() or c in "-_" else "-" for c in job.run_name)
    return {"WANDB_RUN_ID": run_id, "WANDB_RESUME": "allow", "WANDB_NAME": job.run_name}


def wait(proc: subprocess.Popen, log_path: Path, on_output: Callable[[], Any] | None = None) -> None:
    """Stream the child's output into our log and `log_path`; raise TrainingFailed on a non-zero exit.

    `on_output` runs after every line and once at the end (lemma.training.follow: live training curves).
    """
    tail: deque[str] = deque(maxlen=30)
    try:
        with log_path.open("a", encoding="utf-8") as fh:
            assert proc.stdout is not None
            for line in proc.stdout:
                fh.write(line)
                fh.flush()  # worker.log is what a user tails while the run goes on
                tail.append(line.rstrip())
                log.info("%s", line.rstrip())
                if on_output is not None:
                    on_output()
        rc = proc.wait()
        if on_output is not None:
            on_output()
    except BaseException:
        _stop(proc)
        raise
    signals.untrack_session(proc.pid)
    if rc != 0:
        raise TrainingFailed(f"training worker exited with {rc}; last lines:\n" + "\n".join(tail))


def _stop(proc: subprocess.Popen) -> None:
    """End the launcher and every worker of its session (SIGTERM, then SIGKILL), within lemma.signals' bounds."""
    survivors = signals.stop_session(proc.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=signals.POLL_S)
    if not survivors:
        signals.untrack_session(proc.pid)  # else the pipeline's final sweep still sees (and names) them


def run_job(job: TrainJob, folder: Path, env: dict[str, str] | None = None,
            on_log: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train, then reload the saved weights and check them (b3). Returns the metrics; resumes automatically.

    `on_log` gets each train_log.jsonl row (step, loss, lr, ...) while training runs.
    """
    job, job_path, data_stats = write(job, folder)
    follower = TrainLogFollower(job.checkpoints / LOG_FILE, on_log) if on_log is not None else None
    node = slurm.announce_launch(job_path, job.train.nnodes) if slurm.node_launch_for(job.train.nnodes, job.train.hostfile) else None
    wait(start(job_path, env, node), job.checkpoints / "worker.log", follower.poll if follower else None)
    metrics = json.loads((job.checkpoints / METRICS_FILE).read_text())
    metrics.update(checkpoints.verify_saved_model(Path(job.output_dir), metrics["num_params"]))
    metrics["data"] = data_stats
    return metrics


def copy_logs(job: TrainJob, out: Path) -> None:
    """metrics.json and train_log.jsonl from the work folder into the artifact."""
    for name in (METRICS_FILE, LOG_FILE):
        src = job.checkpoints / name
        if src.is_file():
            (Path(out) / name).write_bytes(src.read_bytes())
