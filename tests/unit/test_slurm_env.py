"""Reading SLURM's environment: host lists, roles, and set-ups that would run the pipeline twice are refused."""

from __future__ import annotations

import pytest

from lemma.training.slurm import SlurmSetupError, SlurmTask, expand_hostlist, in_allocation_of, is_host_task, place


def _env(node: int, nnodes: int = 2, ntasks: int = 2, **extra: str) -> dict[str, str]:
    return {"SLURM_JOB_ID": "77", "SLURM_NNODES": str(nnodes), "SLURM_NTASKS": str(ntasks), "SLURM_NODEID": str(node),
            "SLURM_PROCID": str(node), "SLURM_JOB_NODELIST": "gpu[007-008]", **extra}


def test_hostlists_expand_like_scontrol():
    assert expand_hostlist("gpu[01-03,07],login1") == ["gpu01", "gpu02", "gpu03", "gpu07", "login1"]
    assert expand_hostlist("a1,b[9-10]") == ["a1", "b9", "b10"] and expand_hostlist("") == []


def test_roles_and_rendezvous_address(tmp_path):
    driver, host = place(2, None, _env(0)), place(2, None, _env(1))
    assert driver.runs_pipeline and not host.runs_pipeline
    assert driver.master_addr == "gpu007" and driver.hosts == ("gpu007", "gpu008")
    assert SlurmTask.from_env(_env(0, MASTER_ADDR="10.0.0.5")).master_addr == "10.0.0.5"
    assert driver.rendezvous_dir(tmp_path) == (tmp_path / "slurm" / "77").resolve()
    assert is_host_task(_env(1)) and not is_host_task(_env(0)) and not is_host_task({})
    assert in_allocation_of(2, _env(0)) and not in_allocation_of(4, _env(0))


def test_outside_slurm_or_on_one_node_nothing_changes():
    assert place(1, None, {}) is None
    assert place(1, None, {"SLURM_JOB_ID": "1", "SLURM_PROCID": "0", "SLURM_NNODES": "1", "SLURM_NTASKS": "1"}) is None


@pytest.mark.parametrize("nnodes_cfg,ntasks,hostfile,fix", [
    (2, 4, None, "one task per node"), (1, 2, None, "train.nnodes=2"), (2, 2, "/h", "train.hostfile=null")])
def test_setups_that_would_run_the_pipeline_twice_are_refused(nnodes_cfg, ntasks, hostfile, fix):
    with pytest.raises(SlurmSetupError, match=fix.replace(".", r"\.")):
        place(nnodes_cfg, hostfile, _env(0, ntasks=ntasks))
