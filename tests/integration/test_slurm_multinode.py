"""A two-node SLURM job on one CPU machine: one pipeline, four training ranks, the losses of one four-process node.

SLURM's environment is simulated for two tasks of `python run.py` (SLURM_JOB_ID, SLURM_NNODES=2, SLURM_NODEID and
SLURM_PROCID 0/1, SLURM_NTASKS=2, a node list; MASTER_ADDR=127.0.0.1 because both "nodes" are this machine).
Each node runs two gloo processes. The stage is `base`: the tiny model's warm-up SFT, which trains through the
same driver and worker as `train`, for a few steps. The reference is the same command on one node with four
processes; the global batch is split the same way across the four ranks, so the per-step losses must agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lemma.config import REPO_ROOT
from tests.integration.conftest import SMALL

pytestmark = [pytest.mark.integration, pytest.mark.slow]
STEPS = 4
ARGS = [a for a in SMALL if not a.startswith(("train.nproc_per_node", "model.tiny.warmup"))] + [
    "stage=base", f"model.tiny.warmup.max_steps={STEPS}", "model.tiny.warmup.global_batch=8", "train.log_every=1"]


def _slurm_env(node: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return {**env, "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_NNODES": "2", "SLURM_NTASKS": "2",
            "SLURM_NODEID": str(node), "SLURM_PROCID": str(node), "SLURM_LOCALID": "0",
            "SLURM_JOB_NODELIST": "cpu-node[1-2]", "MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1",
            "LEMMA_SLURM_JOIN_TIMEOUT_S": "300"}


def _run_py(root: Path, extra: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "run.py"), f"paths.root={root}", *ARGS, *extra],
                            cwd=root.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _warmup_log(root: Path) -> list[dict]:
    (path,) = list((root / "artifacts" / "base").glob("*/train_log.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_slurm_nodes_run_one_pipeline_and_train_as_one_four_process_node(tmp_path):
    multi, single = tmp_path / "two_nodes", tmp_path / "one_node"
    multi.mkdir()
    single.mkdir()
    tasks = [_run_py(multi, ["train.nnodes=2", "train.nproc_per_node=2"], _slurm_env(k)) for k in (0, 1)]
    outputs = [t.communicate(timeout=900)[0] for t in tasks]
    for k, (task, out) in enumerate(zip(tasks, outputs)):
        assert task.returncode == 0, f"node {k}:\n{out[-4000:]}"
    driver, host = outputs
    assert "runs the pipeline" in driver and "hosts training workers only" in host
    assert "running problems" in driver and "running" not in host.replace("running the", "")  # one pipeline
    runs = sorted(p.name for p in (multi / "runs").glob("*/*"))
    assert len(runs) == 2 and any(r.endswith("-node1") for r in runs)  # a run folder per task, never shared
    assert len(list((multi / "runs").glob("*/*/lineage.json"))) == 1  # ... and one pipeline wrote a lineage

    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")} | {"OMP_NUM_THREADS": "1"}
    reference = _run_py(single, ["train.nnodes=1", "train.nproc_per_node=4"], env)
    out = reference.communicate(timeout=900)[0]
    assert reference.returncode == 0, out[-4000:]

    metrics = json.loads(next((multi / "artifacts" / "base").glob("*/metrics.json")).read_text())
    assert metrics["world_size"] == 4 and metrics["steps"] == STEPS
    two, one = _warmup_log(multi), _warmup_log(single)
    assert [r["step"] for r in two] == [r["step"] for r in one] == list(range(1, STEPS + 1))
    for a, b in zip(two, one):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5), (a, b)
