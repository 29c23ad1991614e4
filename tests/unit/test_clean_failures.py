"""Known failures end in one paragraph and an exit code, without a traceback; bugs keep their traceback.

`main_entry` is what run.py calls inside Hydra; `run` is replaced by one that fails the way a stage would, so the
test is about the reporting edge only. The subprocess cases (real `python run.py`) are in
tests/integration/test_bad_configs.py and tests/integration/test_signals.py.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from lemma import cli, signals
from lemma.config import LemmaConfigError
from lemma.errors import LemmaError
from lemma.model.loading import ModelUnavailable
from lemma.teacher.limiter import CircuitOpen, TeacherStopped
from lemma.training.preflight import PreflightError


def _fail_with(monkeypatch, exc: BaseException, node: str | None = "smooth", start_child: bool = False) -> list:
    children: list[subprocess.Popen] = []

    def failing_run(cfg, run_dir, job=None):
        if start_child:
            children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        if isinstance(exc, LemmaError):
            exc.node = node
        raise exc

    monkeypatch.setattr(cli, "run", failing_run)
    return children


@pytest.mark.parametrize("exc,code", [
    (TeacherStopped("budget reached: teacher.max_cost_usd=5 is spent; raise it to continue"), 1),
    (CircuitOpen("teacher endpoint http://x/v1 failed 25 attempts in a row (last: HTTP 503)"), 1),
    (PreflightError("meta-llama/Meta-Llama-3-8B needs about 176 GB/GPU, more than train.gpu_memory_gb=80"), 1),
    (ModelUnavailable("could not load the model org/name: offline"), 1),
    (signals.RunInterrupted(15), 143),
])
def test_known_failure_is_one_paragraph_without_traceback(make_cfg, monkeypatch, caplog, tmp_path, exc, code):
    _fail_with(monkeypatch, exc)
    cfg = make_cfg()
    with caplog.at_level(logging.ERROR, logger="lemma"), pytest.raises(SystemExit) as done:
        cli.main_entry(cfg, str(tmp_path))
    assert done.value.code == code
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    text = record.getMessage()
    assert text.startswith(f"lemma {exc.headline} in smooth: {exc}")
    assert "Finished work is kept" in text and cfg.paths.artifacts in text and "rerun the same command" in text
    assert record.exc_info is None and "Traceback" not in text


def test_config_problems_say_nothing_was_started(make_cfg, monkeypatch, caplog, tmp_path):
    _fail_with(monkeypatch, LemmaConfigError(["data.limit=-5 must be at least 1"]), node=None)
    with caplog.at_level(logging.ERROR, logger="lemma"), pytest.raises(SystemExit) as done:
        cli.main_entry(make_cfg(), str(tmp_path))
    assert done.value.code == 2
    text = caplog.records[-1].getMessage()
    assert text.startswith("lemma did not start: invalid config:\n  - data.limit=-5 must be at least 1")
    assert "Nothing was started" in text


def test_unexpected_exception_keeps_its_traceback(make_cfg, monkeypatch, tmp_path):
    _fail_with(monkeypatch, KeyError("a bug"))
    with pytest.raises(KeyError, match="a bug"):  # propagates: Hydra prints it with its traceback
        cli.main_entry(make_cfg(), str(tmp_path))


def test_in_a_sweep_the_failure_is_reraised_for_the_sweep_to_record(make_cfg, monkeypatch, tmp_path):
    _fail_with(monkeypatch, TeacherStopped("stop"))
    with pytest.raises(TeacherStopped):
        cli.main_entry(make_cfg(), str(tmp_path), {"sweep": "ablate_correction"})


def test_children_the_failed_run_started_are_ended(make_cfg, monkeypatch, tmp_path):
    children = _fail_with(monkeypatch, TeacherStopped("stop"), start_child=True)
    with pytest.raises(SystemExit):
        cli.main_entry(make_cfg(), str(tmp_path))
    assert children[0].wait(timeout=10) == -15  # SIGTERM from the cleanup, not left running
