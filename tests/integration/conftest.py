"""A very small embedded-default world for end-to-end tests: the real CLI and stages, tiny sizes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lemma.config import REPO_ROOT

SMALL = [
    "data.num_train=300", "data.num_dev=20", "data.num_test=20",
    "model.tiny.hidden_size=32", "model.tiny.intermediate_size=64", "model.tiny.num_layers=1", "model.tiny.num_heads=2",
    "model.tiny.warmup_steps=30", "model.tiny.warmup_batch=8", "model.tiny.gate.max_new_tokens=64",
    "train.max_steps=8", "train.global_batch=8", "train.save_every=100", "train.nproc_per_node=1",
    "sample.limit=40", "sample.max_new_tokens=64", "benchmark.items.relations.max_new_tokens=64",
    # a 30-step warm-up makes mostly nonsensical errors (not injectable): a small prior keeps injection going
    "+errors.weights.context_value_error=1",
]


def run_cli(*args: str, cwd: Path, config: tuple[str, ...] = (), env: dict[str, str] | None = None, timeout: int = 600,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """`python run.py ...` as a user runs it, in a subprocess."""
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "run.py"), *config, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"run.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One output root shared by the integration tests, so later tests reuse the first run's artifacts."""
    return tmp_path_factory.mktemp("lemma_outputs")
