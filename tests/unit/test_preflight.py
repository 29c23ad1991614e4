"""The pre-flight: files, credentials, endpoints, models and the training job, checked before any stage runs.

Each test composes the real config tree and asks the pre-flight what it finds; nothing is run and nothing is
written (the output root stays empty). The hub is never contacted: HF_HUB_OFFLINE makes "not cached" mean offline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lemma import preflight
from lemma.benchmarks import BenchmarkFileError, target_questions
from lemma.config import DATA_ROOT, LemmaConfigError

KEY_VALUE = "sk-never-printed-0123456789"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _problems(cfg) -> list[str]:
    with pytest.raises(LemmaConfigError) as err:
        preflight.check(cfg)
    return err.value.problems


def _copy_data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(DATA_ROOT, root)
    return root


def test_default_run_passes_and_writes_nothing(make_cfg, tmp_path):
    pending = preflight.check(make_cfg())
    assert pending[0] == "problems" and pending[-1] == "report"
    assert list(tmp_path.iterdir()) == []  # no artifact, lock or cache folder from checking


def test_api_key_is_required_only_by_stages_that_call_the_teacher(make_cfg, monkeypatch):
    cfg = make_cfg("teacher=openai", "teacher.datasets=[gsm8k,math,arith,relations]")  # serves the default world
    (line,) = [p for p in _problems(cfg) if "OPENAI_API_KEY" in p]
    assert "teacher.api_key_env" in line and "classify" in line and "export OPENAI_API_KEY=" in line
    assert preflight.teacher_problems(cfg, {"problems", "base", "train"}) == []  # e.g. teacher stages cached
    monkeypatch.setenv("OPENAI_API_KEY", KEY_VALUE)
    assert preflight.check(cfg)
    monkeypatch.setenv("OPENAI_API_KEY", KEY_VALUE)
    problems = _problems(make_cfg("teacher=openai", "teacher.base_url=api.openai.com/v1"))
    assert all(KEY_VALUE not in p for p in problems)


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://host/v1", "http://", "https://exa mple.com/v1"])
def test_base_url_must_be_http(make_cfg, monkeypatch, url):
    monkeypatch.setenv("OPENAI_API_KEY", KEY_VALUE)
    problems = _problems(make_cfg("teacher=openai", f"teacher.base_url='{url}'"))
    assert any(p.startswith(f"teacher.base_url={url!r} is not an http(s) URL") for p in problems), problems


def test_offline_hub_model_says_how_to_use_a_local_copy(make_cfg, tmp_path):
    problems = preflight.model_source_problems("model.path", "some-org/not-cached-model-xyz")
    assert len(problems) == 1 and "HF_HUB_OFFLINE is set" in problems[0] and "offline" in problems[0]
    assert "model.path to a local folder" in problems[0]
    assert "no such folder" in preflight.model_source_problems("model.path", str(tmp_path / "gone"))[0]
    (tmp_path / "empty").mkdir()
    assert "without config.json" in preflight.model_source_problems("model.path", str(tmp_path / "empty"))[0]
    (tmp_path / "empty" / "config.json").write_text("{}")
    assert preflight.model_source_problems("model.path", str(tmp_path / "empty")) == []


def test_missing_and_changed_benchmark_files_are_named(make_cfg, tmp_path):
    data = _copy_data(tmp_path)
    (data / "benchmarks" / "svamp" / "test.jsonl").write_text("{}\n")
    (data / "benchmarks" / "gsm8k" / "test.jsonl").unlink()
    problems = _problems(make_cfg("benchmark=paper", f"paths.data={data}", "stage=evaluate", root=tmp_path / "out"))
    assert any(p.startswith("benchmark.items.gsm8k:") and "does not exist" in p for p in problems)
    assert any(p.startswith("benchmark.items.svamp:") and "benchmark.items.svamp.sha256=" in p for p in problems)
    assert not (tmp_path / "out").exists()


def test_decontamination_needs_every_target(make_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY_VALUE)
    data = _copy_data(tmp_path)
    (data / "benchmarks" / "olympiadbench" / "test.jsonl").unlink()
    stages = {"build"}
    cfg = make_cfg("data=gsm8k_math", "teacher=gpt4o", "model=llama3_8b", "benchmark=gsm8k", f"paths.data={data}")
    (line,) = preflight.data_problems(cfg, stages)
    assert line.startswith("decontamination") and "build.decontaminate_against.items.olympiadbench" in line
    with pytest.raises(BenchmarkFileError, match="olympiadbench"):  # an error at build time too, not a skip
        target_questions(cfg.build)
    assert preflight.data_problems(make_cfg("data=gsm8k_math", "build.decontaminate=false", f"paths.data={data}"),
                                   stages) == []


def test_train_files_must_be_the_pinned_copies(make_cfg, tmp_path):
    data = _copy_data(tmp_path)
    with (data / "train" / "math" / "train.jsonl").open("a") as fh:
        fh.write("\n")
    cfg = make_cfg("data=gsm8k_math", f"paths.data={data}")
    (line,) = preflight.data_problems(cfg, {"problems"})
    assert line.startswith("data.sha256.math:") and "data.sha256.math=" in line
    assert preflight.data_problems(make_cfg("data=gsm8k_math"), {"problems"}) == []


def test_release_data_must_exist_and_match_its_pin(make_cfg, tmp_path):
    release = tmp_path / "lemma.json"
    cfg = make_cfg("data=lemma_release", f"data.release_path={release}")
    assert "data.release_path: no file" in preflight.data_problems(cfg, {"build"})[0]
    release.write_text('[{"instruction": "1+1?", "input": "", "output": "The answer is: 2"}]')
    assert preflight.data_problems(cfg, {"build"}) == []
    pinned = make_cfg("data=lemma_release", f"data.release_path={release}", f"data.release_sha256={'0' * 64}")
    (line,) = preflight.data_problems(pinned, {"build"})
    assert line.startswith("data.release_sha256:") and "data.release_sha256=" in line
    assert "data.release_path is set, but data=relations" in preflight.data_problems(
        make_cfg("data=relations", f"data.release_path={tmp_path}"), set())[0]


def test_training_job_checks_and_memory_preflight_run_before_any_stage(make_cfg):
    (line,) = preflight.training_problems(make_cfg("train.nproc_per_node=3"), {"train"})
    assert "train.global_batch=32 is not divisible by the world size" in line
    (line,) = preflight.training_problems(make_cfg("model=llama3_8b", "train=zero2", "train.gpu_memory_gb=10"),
                                          {"train"})
    assert "more than train.gpu_memory_gb=10" in line
    assert preflight.training_problems(make_cfg("train.nproc_per_node=3"), {"evaluate"}) == []


def test_unset_and_unresolvable_values_are_named(make_cfg):
    assert _problems(make_cfg("model.path=???")) == [
        "model.path is not set (its value is ???): give it on the command line, model.path=..."]
    (line,) = _problems(make_cfg("teacher.base_url=${oc.env:LEMMA_TEST_UNSET_VARIABLE}"))
    assert line.startswith("teacher.base_url cannot be resolved")


def test_missing_extras_name_the_pip_command(make_cfg, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    (line,) = preflight.package_problems(make_cfg("generation.backend=vllm"), {"evaluate"})
    assert "generation.backend=vllm needs the vllm package" in line and "pip install -e '.[gpu]'" in line


def test_committed_artifacts_are_not_pending(make_cfg, tmp_path):
    cfg = make_cfg()
    pending = preflight.pending_nodes(cfg)
    key = __import__("lemma.pipeline", fromlist=["node_key"]).node_key(cfg, "problems", {})[0]
    done = Path(cfg.paths.artifacts) / "problems" / key
    done.mkdir(parents=True)
    (done / "manifest.json").write_text(json.dumps({}))
    assert preflight.pending_nodes(cfg) == pending[1:]
    assert "problems" in preflight.pending_nodes(make_cfg("force=[problems]"))
