"""Multi-node training under SLURM: one task per node, one pipeline, training over every node.

A SLURM job on N nodes (sbatch + srun, or Hydra's submitit launcher with `hydra.launcher.nodes=N` and one task per
node) starts `python run.py ...` once per node. Run naively, every task would run the whole pipeline: N times the
teacher calls, the sampling and the evaluation. Here the tasks take roles from SLURM's environment:

- the first task (SLURM_PROCID=0, on the first node) is the **driver**: it runs the pipeline as on one machine;
- every other task is a **host**: it runs no stage, and only starts its node's share of each training launch.

They meet in a rendezvous folder under `paths.root` (which must be on a filesystem all nodes share, as the
artifacts and checkpoints already must be): `<paths.root>/slurm/<SLURM_JOB_ID>[.<SLURM_STEP_ID>]/`. The driver
writes `driver.json` at start, naming a fresh session folder inside (a requeued job keeps its id; its old files
must not be mistaken for the new run's), touches `heartbeat` every HEARTBEAT_S, and for each training launch writes
`launch-<n>.json` (job.yaml path, master address and a free port), waits until every host acknowledged it, and
starts `torchrun --nnodes N --node_rank 0 --master_addr A --master_port P` (static rendezvous: node ranks are SLURM's
node ids, so global rank 0, which logs and saves, is on the driver's node). Each host starts the same command with
`--node_rank SLURM_NODEID`. `done.json` ends the hosts; a heartbeat older than STALE_S ends them too (a driver
killed hard cannot write done.json), so an allocation is never held by tasks waiting for nothing.

MASTER_ADDR, when set, wins; otherwise the master is the first host of SLURM_JOB_NODELIST (the driver's node).
The driver process passes the rendezvous folder to the training launcher through LEMMA_RENDEZVOUS_DIR, set only
while the driver's pipeline runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lemma.errors import LemmaError

log = logging.getLogger(__name__)

RENDEZVOUS_ENV = "LEMMA_RENDEZVOUS_DIR"
HEARTBEAT_S = 15.0
STALE_S = 600.0  # a driver silent this long is gone
JOIN_TIMEOUT_S = float(os.environ.get("LEMMA_SLURM_JOIN_TIMEOUT_S", "600"))  # hosts acknowledging a launch
POLL_S = 0.5


class SlurmSetupError(LemmaError):
    """The SLURM allocation and the config disagree (tasks per node, node count); the message gives the fix."""

    exit_code = 2


def expand_hostlist(spec: str) -> list[str]:
    """SLURM's compact host list ('gpu[01-03,07],login1') as names, in order (what `scontrol show hostnames` gives)."""
    hosts: list[str] = []
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\])?[^,]*", spec or ""):
        m = re.fullmatch(r"([^\[]*)\[([^\]]*)\](.*)", part)
        if not m:
            hosts.append(part)
            continue
        prefix, ranges, suffix = m.groups()
        for item in ranges.split(","):
            lo, _, hi = item.partition("-")
            if not hi:
                hosts.append(f"{prefix}{lo}{suffix}")
                continue
            for n in range(int(lo), int(hi) + 1):
                hosts.append(f"{prefix}{str(n).zfill(len(lo))}{suffix}")
    return hosts


@dataclass(frozen=True)
class SlurmTask:
    """This process's place in a SLURM job step."""
    job_id: str
    step_id: str | None
    node_rank: int  # SLURM_NODEID
    nnodes: int  # SLURM_NNODES
    task_rank: int  # SLURM_PROCID
    ntasks: int  # SLURM_NTASKS
    hosts: tuple[str, ...]
    master_addr: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SlurmTask | None:
        """None outside a SLURM step (no SLURM_JOB_ID or SLURM_PROCID: not started by srun)."""
        env = os.environ if env is None else env
        if not env.get("SLURM_JOB_ID") or env.get("SLURM_PROCID") is None:
            return None
        hosts = tuple(expand_hostlist(env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or ""))
        nnodes = int(env.get("SLURM_NNODES") or env.get("SLURM_JOB_NUM_NODES") or max(1, len(hosts)))
        return cls(job_id=env["SLURM_JOB_ID"], step_id=env.get("SLURM_STEP_ID"),
                   node_rank=int(env.get("SLURM_NODEID", "0")), nnodes=nnodes, task_rank=int(env["SLURM_PROCID"]),
                   ntasks=int(env.get("SLURM_NTASKS", "1")), hosts=hosts,
                   master_addr=env.get("MASTER_ADDR") or (hosts[0] if hosts else socket.gethostname()))

    @property
    def runs_pipeline(self) -> bool:
        return self.task_rank == 0

    def rendezvous_dir(self, root: str | Path) -> Path:
        name = self.job_id if self.step_id in (None, "") else f"{self.job_id}.{self.step_id}"
        return Path(root).resolve() / "slurm" / name


def place(train_nnodes: int, hostfile: str | None, env: Mapping[str, str] | None = None) -> SlurmTask | None:
    """This task's SLURM place when the run spans nodes, None for a one-node run; refuses mismatched set-ups."""
    task = SlurmTask.from_env(env)
    if task is None or (task.ntasks == 1 and train_nnodes == 1):
        return None
    problems = []
    if task.ntasks != task.nnodes:
        problems.append(f"this SLURM step has {task.ntasks} tasks on {task.nnodes} node(s); lemma needs exactly one "
                        "task per node (srun --ntasks-per-node=1, or hydra.launcher.tasks_per_node=1): the first "
                        "runs the pipeline, the others host training workers")
    if train_nnodes != task.nnodes:
        problems.append(f"the allocation has {task.nnodes} node(s) but train.nnodes={train_nnodes}; set "
                        f"train.nnodes={task.nnodes} (with submitit: hydra.launcher.nodes='${{train.nnodes}}')")
    if hostfile:
        problems.append("train.hostfile is for the deepspeed launcher over ssh outside SLURM; inside a SLURM "
                        "allocation the training spans the nodes through srun's tasks: set train.hostfile=null")
    if problems:
        raise SlurmSetupError("; ".join(problems))
    return task


def in_allocation_of(nnodes: int, env: Mapping[str, str] | None = None) -> bool:
    """True inside a SLURM step with one task on each of `nnodes` nodes (multi-node training can start)."""
    task = SlurmTask.from_env(env)
    return task is not None and task.nnodes == nnodes == task.ntasks


def run_dir_suffix(env: Mapping[str, str] | None = None) -> str:
    """'' for the task that runs the pipeline (and outside SLURM); '-node<k>' for a host task, so that the tasks of
    one job, started in the same second, do not share a Hydra run folder (conf/config.yaml: hydra.run.dir)."""
    env = os.environ if env is None else env
    rank = env.get("SLURM_PROCID")
    return f"-node{env.get('SLURM_NODEID', rank)}" if env.get("SLURM_JOB_ID") and rank not in (None, "0") else ""


def is_host_task(env: Mapping[str, str] | None = None) -> bool:
    """True in a SLURM task other than the first: it hosts training workers and owns no job-level bookkeeping."""
    return run_dir_suffix(env) != ""


def register_resolver() -> None:
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("lemma_task_suffix", lambda: run_dir_suffix(), replace=True)


# ------------------------------------------------------------------------------------------------------ files
def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class NodeLaunch:
    """One training launch as seen from one node: static torchrun rendezvous over the allocation."""
    nnodes: int
    node_rank: int
    master_addr: str
    master_port: int

    def torchrun(self, nproc_per_node: int, module: str, job_path: Path) -> list[str]:
        import sys

        return [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(self.nnodes), "--node_rank",
                str(self.node_rank), "--nproc_per_node", str(nproc_per_node), "--master_addr", self.master_addr,
                "--master_port", str(self.master_port), "-m", module, str(job_path)]


# ----------------------------------------------------------------------------------------------------- driver
@contextlib.contextmanager
def driving(task: SlurmTask | None, root: str | Path) -> Iterator[None]:
    """Around the driver's pipeline: announce it, keep a heartbeat, tell the hosts when it ended."""
    if task is None:
        yield
        return
    top = task.rendezvous_dir(root)
    session = f"session-{int(time.time())}-{os.getpid()}"
    folder = top / session
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "heartbeat").touch()
    _write_json(top / "driver.json", {"host": socket.gethostname(), "pid": os.getpid(), "nnodes": task.nnodes,
                                      "master_addr": task.master_addr, "hosts": list(task.hosts),
                                      "session": session, "started": time.time()})
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(folder / "heartbeat")

    thread = threading.Thread(target=beat, name="slurm-heartbeat", daemon=True)
    thread.start()
    previous = os.environ.get(RENDEZVOUS_ENV)
    os.environ[RENDEZVOUS_ENV] = str(folder)
    log.info("SLURM job %s: this task (node 0 of %d) runs the pipeline; the other nodes host training workers "
             "(rendezvous %s)", task.job_id, task.nnodes, folder)
    ok = False
    try:
        yield
        ok = True
    finally:
        stop.set()
        thread.join(timeout=5)
        _write_json(folder / "done.json", {"ok": ok, "at": time.time()})
        if previous is None:
            os.environ.pop(RENDEZVOUS_ENV, None)
        else:
            os.environ[RENDEZVOUS_ENV] = previous


def announce_launch(job_path: Path, nnodes: int, env: Mapping[str, str] | None = None) -> NodeLaunch:
    """Driver side of one training launch: publish it, wait for every host to take it, return node 0's part."""
    env = os.environ if env is None else env
    folder = Path(env[RENDEZVOUS_ENV])
    task = SlurmTask.from_env(env)
    master = task.master_addr if task is not None else socket.gethostname()
    seq = len(list(folder.glob("launch-*.json")))
    port = free_port()
    _write_json(folder / f"launch-{seq:03d}.json", {"job": str(Path(job_path).resolve()), "master_addr": master,
                                                    "master_port": port, "nnodes": nnodes})
    waiting = set(range(1, nnodes))
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while waiting and time.monotonic() < deadline:
        waiting = {n for n in waiting if not (folder / f"launch-{seq:03d}.ack.{n}").exists()}
        if waiting:
            time.sleep(POLL_S)
    if waiting:
        raise SlurmSetupError(f"training launch {seq}: node(s) {sorted(waiting)} did not join within "
                              f"{JOIN_TIMEOUT_S:.0f} s. Every node must run the same `python run.py ...` (srun with "
                              f"one task per node, or the submitit launcher with hydra.launcher.nodes={nnodes} and "
                              f"tasks_per_node=1) and see paths.root on a shared filesystem ({folder})")
    log.info("training launch %d: %d node(s) joined, master %s:%d", seq, nnodes, master, port)
    return NodeLaunch(nnodes, 0, master, port)


def node_launch_for(nnodes: int, hostfile: str | None) -> bool:
    """Whether a training launch must be announced to the hosts (multi-node, inside the driver's session)."""
    return nnodes > 1 and not hostfile and bool(os.environ.get(RENDEZVOUS_ENV))


def _wait_for(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_S)
    return condition()
