"""A very small embedded-default world for end-to-end tests: the real CLI and stages, tiny sizes.

Output folders: every test writes into its own folder under its function-scoped `tmp_path`, so no result depends on
which tests ran before it, or in what order.

One expensive thing is shared, explicitly and read-only: `small_run`, the cold default run (`python run.py
paths.root=<own folder> *SMALL`: problems, warm-up, sample, teacher stages, the three trained arms, four evaluations,
the report). Several tests need a finished run of that world (a rerun that must hit the cache, a correction sweep that
shares the teacher work, W&B logging of a finished run). A cold run takes 1-4 minutes on 2 busy cores (measured 60-250
s), so one per consumer (test_pipeline, test_sweep's two tests, test_wandb) or per module would add 3-10 minutes to a
CI budget of 2 cores and 90 minutes; once per session, the only extra work against the old shared folder is that
test_sweep's fix_only arm is no longer cached by test_pipeline (about 40 s), plus a 2 MB copy per consumer. Its
contents are fixed by the fixture alone (the same command in an empty folder), never by whichever test ran first:
- tests never write into it: `small_root` gives each test a fresh root holding a *copy* of its artifacts and teacher
  cache (not its `runs/` folder), and the test writes there; a fingerprint taken when the run finished is checked
  before every copy and at the end of the session, so a test that writes into the shared run fails loudly;
- `test_pipeline.py` asserts the cold run's own output (stdout, lineage, report) through `small_run`, and reruns in
  its copy. A test that needs a *cold* root of its own (nothing cached) uses `tmp_path` directly.

Module-scoped fixtures elsewhere are explicit and local to their module: test_evaluate (`tiny_dir`),
test_train_packing and test_train_zero (`setup`, and test_train_zero's `cpu_run` reference run) build read-only inputs
once and each test writes under its own name; test_bad_configs runs its cases once, each in a folder of its own;
test_signals' `root` is shared and written by its three tests, which reuse the problems and warm-up artifacts of the
first (each trains its own artifact: different `train.max_steps`, so different keys), which its docstring says.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lemma.config import REPO_ROOT

SMALL = [
    "data.num_train=300", "data.num_dev=20", "data.num_test=20",
    "model.tiny.hidden_size=32", "model.tiny.intermediate_size=64", "model.tiny.num_layers=1", "model.tiny.num_heads=2",
    "model.tiny.warmup.max_steps=30", "model.tiny.warmup.global_batch=8", "model.tiny.gate.max_new_tokens=64",
    "train.max_steps=8", "train.global_batch=8", "train.save_every=100", "train.nproc_per_node=1",
    "sample.limit=40", "sample.max_new_tokens=64", "benchmark.items.relations.max_new_tokens=64",
    # a 30-step warm-up makes mostly nonsensical errors (not injectable): a small prior keeps injection going
    "+errors.weights.context_value_error=1",
]

SHARED = ("artifacts", "cache")  # what a copy of the shared run holds (paths.artifacts and paths.cache)


def run_cli(*args: str, cwd: Path, config: tuple[str, ...] = (), env: dict[str, str] | None = None, timeout: int = 600,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """`python run.py ...` as a user runs it, in a subprocess."""
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "run.py"), *config, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"run.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@dataclass(frozen=True)
class SmallRun:
    """The session's cold default run: read it, never write into it (copy it with `small_root`)."""
    root: Path  # its paths.root: artifacts/, cache/, runs/<date>/<time>/ (lineage.json, report.md, run.log)
    stdout: str  # what `python run.py` printed (the results table)
    fingerprint: dict[str, tuple[int, int]]  # relative path -> (size, mtime_ns) of every file, when it finished

    def check_untouched(self) -> None:
        changed = _diff(self.fingerprint, _fingerprint(self.root))
        assert not changed, f"a test wrote into the shared small_run ({self.root}): {changed[:10]}"


def _fingerprint(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def _diff(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmallRun]:
    """`python run.py *SMALL` once per session, in a folder of its own (see the module docstring)."""
    root = tmp_path_factory.mktemp("small_run") / "out"
    proc = run_cli(f"paths.root={root}", *SMALL, cwd=root.parent)
    run = SmallRun(root, proc.stdout, _fingerprint(root))
    yield run
    run.check_untouched()


@pytest.fixture
def small_root(small_run: SmallRun, tmp_path: Path) -> Path:
    """This test's own output root, holding a copy of the shared run's artifacts and teacher cache: a run with the
    SMALL overrides finds every artifact cached; anything else it computes stays in this test's folder."""
    small_run.check_untouched()
    root = tmp_path / "out"
    for name in SHARED:
        if (small_run.root / name).is_dir():
            shutil.copytree(small_run.root / name, root / name, symlinks=True,
                            ignore=shutil.ignore_patterns(".locks", ".tmp-*", ".work-*"))
    return root
