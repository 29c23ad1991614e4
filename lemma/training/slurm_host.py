"""A SLURM host task: a node other than the first, which runs no stage and only starts its share of each training
launch the driver announces (the protocol is in lemma.training.slurm). Kept apart from `slurm` because it needs the
launcher, which itself needs `slurm`."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from lemma.training import launch
from lemma.training.job import load_job
from lemma.training.slurm import POLL_S, STALE_S, NodeLaunch, SlurmTask, _read_json, _wait_for

log = logging.getLogger("lemma.training.slurm")


def host_training(task: SlurmTask, root: str | Path) -> int:
    """A non-first task: start this node's part of every training launch until the driver is done."""
    top = task.rendezvous_dir(root)
    log.info("SLURM job %s: node %d of %d hosts training workers only; the pipeline runs on node 0 (rendezvous %s)",
             task.job_id, task.node_rank, task.nnodes, top)
    started = time.time()

    def current_driver() -> dict[str, Any] | None:  # this run's driver, not one of a requeued job's earlier try
        info = _read_json(top / "driver.json")
        return info if info and float(info.get("started", 0)) >= started - STALE_S / 2 else None

    if not _wait_for(lambda: current_driver() is not None, STALE_S):
        log.error("no driver announced itself in %s within %.0f s; is paths.root on a shared filesystem?", top,
                  STALE_S)
        return 1
    folder = top / str(current_driver()["session"])  # type: ignore[index]
    seq, launches = 0, 0
    while True:
        spec = _read_json(folder / f"launch-{seq:03d}.json")
        if spec is not None:
            (folder / f"launch-{seq:03d}.ack.{task.node_rank}").touch()
            node = NodeLaunch(int(spec["nnodes"]), task.node_rank, str(spec["master_addr"]),
                              int(spec["master_port"]))
            job = load_job(spec["job"])
            log.info("training launch %d: starting %d worker(s) as node %d", seq, job.train.nproc_per_node, node.node_rank)
            try:
                launch.wait(launch.start(Path(spec["job"]), node=node), folder / f"workers-node{task.node_rank}.log")
            except launch.TrainingFailed as exc:
                log.error("training launch %d failed on this node: %s", seq, exc)
            seq, launches = seq + 1, launches + 1
            continue
        done = _read_json(folder / "done.json")
        if done is not None:
            log.info("the driver finished (%s); %d training launch(es) hosted", "ok" if done.get("ok") else
                     "failed", launches)
            return 0 if done.get("ok") else 1
        if time.time() - (folder / "heartbeat").stat().st_mtime > STALE_S:
            log.error("the driver's heartbeat in %s stopped more than %.0f s ago; giving up", folder, STALE_S)
            return 1
        time.sleep(POLL_S)
