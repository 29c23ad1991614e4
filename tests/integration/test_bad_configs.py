"""30 bad configurations, each as a user types it: `python run.py <overrides>` in a subprocess.

Each must exit non-zero within seconds, name the offending key or value, print no Python traceback, and leave no
artifact (no artifacts/ or cache/ folder under paths.root): Hydra refuses misspelt keys, values and types when it
composes; lemma's pre-flight (lemma.preflight) refuses the rest before any stage, and before any heavy import.
The machine is told it is offline (HF_HUB_OFFLINE=1) and has no API key, as a fresh clone on a cluster node would.

`python -m tests.integration.test_bad_configs` prints the table of cases and what each printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lemma.config import REPO_ROOT

pytestmark = pytest.mark.integration

CPU_SECONDS = 20  # fails fast: a config error costs ~2.5 s of CPU (imports + compose + checks), training far more
WALL_SECONDS = 180  # only a guard against a hang: wall time depends on how loaded the machine is (1.5-4 s idle)
KEY = {"OPENAI_API_KEY": "sk-test-not-a-real-key"}

# (case id, overrides, text that must appear (the key or value named), extra environment); an enum field's value
# is refused by Hydra when it composes: "Invalid value 'x', expected one of [...]" and then "    full_key: <key>"
CASES: list[tuple[str, tuple[str, ...], str, dict[str, str]]] = [
    # the nine the issue found accepted
    ("negative data.limit", ("data=gsm8k_math", "teacher=gpt4o", "model=llama3_8b", "benchmark=gsm8k",
                             "data.limit=-5"), "data.limit=-5 must be at least 1", KEY),
    ("negative sample.temperature", ("sample.temperature=-1",), "sample.temperature=-1.0", {}),
    ("negative budget", ("teacher.max_cost_usd=-3",), "teacher.max_cost_usd=-3.0", {}),
    ("zero concurrency", ("teacher.max_concurrency=0",), "teacher.max_concurrency=0", {}),
    ("zero global batch", ("train.global_batch=0",), "train.global_batch=0", {}),
    ("negative epochs", ("train.epochs=-1",), "train.epochs=-1.0", {}),
    ("negative benchmark.limit", ("benchmark.limit=-1",), "benchmark.limit=-1", {}),
    ("zero n_samples", ("benchmark.n_samples=0",), "benchmark.n_samples=0", {}),
    ("negative max_examples", ("build.max_examples=-10",), "build.max_examples=-10", {}),
    # options without meaning for the data, other ranges
    ("data.limit on a built-in world", ("data.limit=5",), "data.limit=5 has no meaning for data=relations", {}),
    ("top_p of 0", ("sample.top_p=0",), "sample.top_p=0.0", {}),
    ("8 shots of a 4-demo set", ("benchmark=asdiv", "benchmark.items.asdiv.shots=8"),
     "benchmark.items.asdiv.shots=8", {}),
    # misspelt keys, values, types (Hydra, at compose time)
    ("misspelt key", ("teacher.temprature=1",), "temprature", {}),
    ("misspelt option", ("correction=fix_onlyy",), "fix_onlyy", {}),
    ("misspelt benchmark", ("benchmark=papr",), "benchmark/papr", {}),
    ("misspelt enum value", ("errors.distribution=analysed",), "analysed", {}),
    ("wrong type", ("train.epochs=abc",), "train.epochs", {}),
    # stages, force, arms (enum fields: Hydra names the override, the key and the allowed values), empty mixes
    ("unknown stage", ("stage=trian",), "Invalid value 'trian', expected one of [all, problems, base, sample, "
     "classify, inject, locate, correct, smooth, build, train, evaluate, report]\n    full_key: stage\n", {}),
    ("bad force name", ("force=[trian]",), "Invalid value 'trian', expected one of [problems, base, sample, "
     "classify, inject, locate, correct, smooth, build, train, evaluate, report]\n    full_key: force[0]\n", {}),
    ("force not a list", ("force=train",), "full_key: force", {}),
    ("unknown arm", ("arms=[base,sfft]",),
     "Invalid value 'sfft', expected one of [base, sft, clean, lemma]\n    full_key: arms[1]\n", {}),
    ("empty correction mix", ("correction.strategies=[]", "correction.smooth=[]"),
     "correction.strategies is empty", {}),
    ("empty build sources", ("build.sources=[]",), "build.sources is empty", {}),
    # files, keys, URLs, models, the training job
    ("missing benchmark file", ("benchmark=gsm8k", "stage=evaluate", "paths.data=/nonexistent/lemma-data"),
     "/nonexistent/lemma-data/benchmarks/gsm8k/test.jsonl does not exist", {}),
    ("unknown benchmark source", ("benchmark=svamp", "benchmark.items.svamp.source=web"),
     "Invalid value 'web', expected one of [builtin, file, hub]\n    full_key: benchmark.items.svamp.source\n", {}),
    ("API key variable unset", ("teacher=openai",), "environment variable OPENAI_API_KEY is not set", {}),
    ("mandatory value unset", ("model.path=???",), "model.path is not set", {}),
    ("malformed base_url", ("teacher=openai", "teacher.base_url=localhost:8000/v1"),
     "teacher.base_url='localhost:8000/v1' is not an http(s) URL", KEY),
    ("hub model, offline", ("data=gsm8k_math", "teacher=gpt4o", "model=llama3_8b", "benchmark=gsm8k",
                            "train=zero3_offload"),
     "model.path=meta-llama/Meta-Llama-3-8B is not in the local Hugging Face cache", KEY),
    ("batch not divisible by processes", ("train.nproc_per_node=3",), "is not divisible by the world size", {}),
]


def run_case(overrides: tuple[str, ...], root: Path, env: dict[str, str]) -> tuple[int, str, float, float]:
    """(exit code, stdout+stderr, wall seconds, CPU seconds) of `python run.py paths.root=<root> <overrides>`.

    CPU time comes from wait4() on this child alone, so parallel cases and other load do not blur it.
    """
    base = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "HYDRA_FULL_ERROR")}
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "run.py"), f"paths.root={root}", *overrides],
                                cwd=root.parent, stdout=out, stderr=subprocess.STDOUT,
                                env={**base, "HF_HUB_OFFLINE": "1", **env})
        guard = threading.Timer(WALL_SECONDS + 60, proc.kill)
        guard.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            guard.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return proc.returncode, text, time.monotonic() - start, usage.ru_utime + usage.ru_stime


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, float, float, Path]]:
    """All 30 cases, 4 at a time (each is a short-lived process that fails before any work)."""
    base = tmp_path_factory.mktemp("bad_configs")

    def one(i: int) -> tuple[str, tuple[int, str, float, float, Path]]:
        name, overrides, _, env = CASES[i]
        root = base / f"case{i:02d}" / "out"
        root.parent.mkdir(parents=True)
        return name, (*run_case(overrides, root, env), root)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, range(len(CASES))))


def test_thirty_distinct_cases():
    assert len(CASES) == 30 and len({c[0] for c in CASES}) == 30


@pytest.mark.parametrize("name,overrides,named,env", CASES, ids=[c[0] for c in CASES])
def test_bad_config_fails_fast_named_clean_and_leaves_nothing(outcomes, name, overrides, named, env):
    code, output, wall, cpu, root = outcomes[name]
    assert code != 0, output
    assert named in output, output
    assert "Traceback" not in output, output
    assert cpu < CPU_SECONDS and wall < WALL_SECONDS, f"{cpu:.1f} s of CPU, {wall:.1f} s of wall time"
    leftovers = [p.name for p in root.iterdir()] if root.exists() else []
    assert not {"artifacts", "cache"} & set(leftovers), leftovers  # at most Hydra's runs/ folder with its log


def first_lines(output: str, named: str) -> tuple[str, str]:
    """The first line printed, and the line that names the offending key or value (the first line of `named`, which
    for an enum value spans the value's line and the key's)."""
    lines = [line for line in output.splitlines() if line.strip()]
    named = named.splitlines()[0]
    naming = next((line.strip() for line in lines if named in line), "")
    return (lines[0] if lines else ""), naming


if __name__ == "__main__":  # the table of the closing note
    with tempfile.TemporaryDirectory() as tmp:
        print("| # | case | overrides | exit | wall s | CPU s | first line printed | line naming the problem |")
        print("|---|---|---|---|---|---|---|---|")

        def row(i: int) -> str:
            name, overrides, named, env = CASES[i]
            root = Path(tmp) / f"case{i:02d}" / "out"
            root.parent.mkdir(parents=True)
            code, output, wall, cpu = run_case(overrides, root, env)
            first, naming = first_lines(output, named)
            return (f"| {i + 1} | {name} | `{' '.join(overrides)}` | {code} | {wall:.1f} | {cpu:.1f} | "
                    f"`{first[:110]}` | `{naming[:160]}` |")

        with ThreadPoolExecutor(max_workers=4) as pool:
            for line in pool.map(row, range(len(CASES))):
                print(line)
