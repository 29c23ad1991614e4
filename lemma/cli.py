"""What `run.py` does inside Hydra: the pre-flight check, the pipeline, the results table."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lemma import signals
from lemma.errors import LemmaError, report
from lemma.pipeline import run
from lemma.preflight import check
from lemma.stages.report import REPORT_MD
from lemma.teacher.dry_run import DryRunStop
from lemma.training import slurm

log = logging.getLogger("lemma")


def main_entry(cfg: DictConfig, output_dir: str, job: dict[str, Any] | None = None,
               exit_fast_on_signal: bool = False) -> float | None:
    """Returns the headline metric (LEMMA arm's average accuracy) so sweepers can optimise it.

    A failure lemma understands (`LemmaError`) is printed as one paragraph and ends the process with its exit code,
    without a traceback; anything else propagates with its traceback. SIGTERM, SIGINT and SIGHUP stop every child
    process before the run ends (lemma.signals). In a multirun a failed job is re-raised after its paragraph, so
    Hydra and the sweep callback record the arm as failed, as before. `exit_fast_on_signal` (run.py sets it) ends
    the process right after a stop signal's cleanup and report: a scheduler kills what is still there after its
    grace period, and tearing down a loaded interpreter can take longer than that on a busy node.
    """
    logging.getLogger().setLevel(cfg.pipeline.log_level)
    in_sweep = bool((job or {}).get("sweep"))
    try:
        with signals.handle_stop_signals():
            # under SLURM with one task per node, only the first task runs the pipeline (lemma.training.slurm)
            task = slurm.place(int(cfg.train.nnodes), cfg.train.hostfile)
            if task is not None and not task.runs_pipeline:
                from lemma.training import slurm_host  # the launcher (torch) only on a host task

                code = slurm_host.host_training(task, cfg.paths.root)
                if code:
                    sys.exit(code)
                return None
            before = {p.pid for p in signals.descendants()}
            try:
                with slurm.driving(task, cfg.paths.root):
                    check(cfg)  # every problem of config, files, credentials, models and the training job, at once
                    result = run(cfg, Path(output_dir), job={**(job or {}), "dir": output_dir})
            except BaseException:
                if not in_sweep:
                    _stop_leftover_children(before)
                raise
    except DryRunStop as exc:  # teacher.dry_run=true reached the first request it would pay for: not a failure
        print(exc.summary)
        return None
    except LemmaError as exc:
        log.error("%s", report(exc, cfg.paths.artifacts))
        if in_sweep:
            raise
        if exit_fast_on_signal and isinstance(exc, signals.RunInterrupted):
            signals.exit_now(exc.exit_code)  # children are gone; skip the interpreter's slow teardown
        sys.exit(exc.exit_code)
    if result.report is None:
        return None
    table = Path(output_dir) / REPORT_MD  # the copy lemma.pipeline puts in the run folder
    if table.exists():
        print(table.read_text())
    return result.report.get("headline")


def _stop_leftover_children(before: set[int]) -> None:
    """After a failure, whatever child the run started and is still running (a pool or engine whose close was cut
    short) is ended."""
    survivors = signals.stop_processes([p for p in signals.descendants() if p.pid not in before])
    if survivors:
        raise signals.survivors_error(survivors, "the run", None)
