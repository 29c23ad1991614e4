"""Artifact keys are stable, change with content settings only, and a killed write is never reused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from lemma.artifacts import MANIFEST, ArtifactStore, compute_key, content_slice


def test_key_stable_under_dict_order():
    a = compute_key("inject", 1, {"x": 1, "y": {"b": 2, "a": 1}}, {"p": b"abc"}, {"classify": "k1", "sample": "k2"})
    b = compute_key("inject", 1, {"y": {"a": 1, "b": 2}, "x": 1}, {"p": b"abc"}, {"sample": "k2", "classify": "k1"})
    assert a == b and len(a) == 16


@pytest.mark.parametrize("change", [
    dict(version=2), dict(config={"x": 2}), dict(files={"p": b"abd"}), dict(parents={"sample": "other"})])
def test_key_changes_with_content(change):
    base = dict(stage="s", version=1, config={"x": 1}, files={"p": b"abc"}, parents={"sample": "k"})
    assert compute_key(**base) != compute_key(**{**base, **change})


def test_execution_fields_do_not_change_keys(make_cfg):
    base = make_cfg()
    how = make_cfg("train.zero_stage=3", "train.backend=deepspeed", "train.nproc_per_node=2", "teacher.max_concurrency=8",
                   "teacher.rpm=100", "benchmark.batch_size=4", "sample.batch_size=7", "train.micro_batch=2")
    what = make_cfg("train.lr=1e-4")
    for group in ("train", "teacher", "benchmark", "sample"):
        assert content_slice(base[group]) == content_slice(how[group]), group
    assert content_slice(base.train) != content_slice(what.train)
    assert "zero_stage" not in content_slice(base.train) and "lr" in content_slice(base.train)


def test_fix_only_changes_correction_slice_only(make_cfg):
    base, fix = make_cfg(), make_cfg("correction=fix_only")
    for group in ("data", "teacher", "errors", "sample", "train", "model"):
        assert content_slice(base[group]) == content_slice(fix[group])
    assert content_slice(base.correction) != content_slice(fix.correction)


def test_commit_is_atomic_and_failure_leaves_nothing(tmp_path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        with store.writing("inject", "k1") as out:
            (out / "data.jsonl").write_text("partial")
            raise RuntimeError("boom")
    assert store.get("inject", "k1") is None and not any((tmp_path / "inject").iterdir())
    with pytest.raises(RuntimeError, match="without writing manifest"):
        with store.writing("inject", "k1") as out:
            (out / "data.jsonl").write_text("no manifest")
    with store.writing("inject", "k1") as out:
        (out / "data.jsonl").write_text("done")
        (out / MANIFEST).write_text(json.dumps({"ok": True}))
    art = store.get("inject", "k1")
    assert art is not None and art.file("data.jsonl").read_text() == "done"


def test_killed_writer_is_not_taken_for_complete(tmp_path):
    """SIGKILL in the middle of a stage: the temporary folder stays, but no artifact exists under the key."""
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from lemma.artifacts import ArtifactStore
        store = ArtifactStore(Path({str(tmp_path)!r}))
        with store.writing("correct", "abc") as out:
            (out / "trajectories.jsonl").write_text("half")
            print("ready", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = ArtifactStore(tmp_path)
    assert store.get("correct", "abc") is None
    assert not (tmp_path / "correct" / "abc").exists()
