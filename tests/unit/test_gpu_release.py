"""GPU memory between stages: an in-process engine is shut down before the next stage that needs the GPU.

The stages are the real declarations (their `uses`), with their work replaced by a recorder at the edge: a fake
local teacher model and a fake student engine that log load / generate / shutdown, and a "train" that logs when
the training child would start. The order shutdown -> train is what keeps a 90%-memory vLLM engine from starving
the training processes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lemma import generation, pipeline
from lemma.artifacts import ArtifactStore
from lemma.generation import Generation, SamplingSpec
from lemma.pipeline import RunResult, Services
from lemma.records import Problem
from lemma.teacher.base import LocateRequest
from tests.fakes.scripted_backend import ScriptedBackend, make_teacher

GSM = Problem("g1", "gsm8k", "Q?", "3 x 4 = 12.\nThe answer is: 12", "12")


class LocalModel(ScriptedBackend):
    """A local teacher backend (like VLLMBackend) that records when its model is loaded and shut down."""

    def __init__(self, events: list[str]) -> None:
        super().__init__(lambda m, s: '{"verdict": "incorrect", "first_wrong_step": 1}', remote=False)
        self.events = events
        self.loaded = False

    def generate(self, prompts, sampling):
        if not self.loaded:
            self.events.append("teacher.load")
            self.loaded = True
        self.events.append("teacher.generate")
        return super().generate(prompts, sampling)

    def close(self) -> None:
        if self.loaded:
            self.events.append("teacher.shutdown")
        self.loaded = False


class StudentEngine:
    def __init__(self, events: list[str]) -> None:
        self.events = events
        events.append("student.load")

    def shutdown(self) -> None:
        self.events.append("student.shutdown")


@pytest.fixture
def events() -> list[str]:
    return []


@pytest.fixture
def harness(make_cfg, tmp_path, events, monkeypatch):
    """Run single nodes through pipeline._build_node with the real stage declarations and recording work."""
    cfg = make_cfg()
    store = ArtifactStore(tmp_path / "artifacts")
    services = Services(cfg, tmp_path / "cache")
    real = pipeline.load_stage

    def teacher_work(ctx):
        ctx.teacher.locate([LocateRequest(GSM, "3 x 4 = 13.\nThe answer is: 13")])
        return {}

    def student_work(ctx):
        generation.generate("student-model", ["Q?"], SamplingSpec(max_new_tokens=4), backend="hf", device="cpu",
                            engines=ctx.services.engines)
        return {}

    work = {"locate": teacher_work, "sample": student_work, "train": lambda ctx: events.append("train") or {}}
    monkeypatch.setattr(pipeline, "load_stage", lambda name: dataclasses.replace(real(name), run=work.get(name, real(name).run)))
    monkeypatch.setattr(generation, "_load_hf", lambda *a: StudentEngine(events))
    monkeypatch.setattr(generation, "_generate_hf", lambda engine, prompts, *a, **k: (
        events.append("student.generate"), [[Generation("x", 1, False)] for _ in prompts])[1])

    def run(node: str) -> None:
        pipeline._build_node(cfg, store, services, node, f"key-{node.replace('.', '-')}", {}, {}, False, RunResult())

    return services, run


def test_local_teacher_is_shut_down_before_training(harness, events, tmp_path):
    services, run = harness
    services._teacher = make_teacher(tmp_path / "teacher", lambda m, s: "", remote=False)
    services._teacher.engine.backend = LocalModel(events)
    run("locate")
    run("train.lemma")
    assert events == ["teacher.load", "teacher.generate", "teacher.shutdown", "train"]


def test_student_engine_is_kept_for_its_stage_and_shut_down_before_training(harness, events):
    services, run = harness
    run("sample")
    assert events == ["student.load", "student.generate"] and len(services.engines) == 1  # owned by the run
    run("train.sft")
    assert events == ["student.load", "student.generate", "student.shutdown", "train"]
    assert len(services.engines) == 0


def test_teacher_stages_keep_the_local_teacher_loaded(harness, events, tmp_path):
    """Consecutive teacher stages do not reload a 70B teacher: only a stage that needs the GPU otherwise releases."""
    services, run = harness
    services._teacher = make_teacher(tmp_path / "teacher", lambda m, s: "", remote=False)
    services._teacher.engine.backend = LocalModel(events)
    run("locate")
    run("sample")  # the student needs the GPU: the teacher goes first
    assert events[:4] == ["teacher.load", "teacher.generate", "teacher.shutdown", "student.load"]


@pytest.mark.parametrize("stage,uses", [("sample", {"student"}), ("train", {"trainer"}), ("base", {"trainer"}),
                                        ("evaluate", {"student", "teacher"}), ("classify", {"teacher"}),
                                        ("inject", {"teacher"}), ("locate", {"teacher"}), ("correct", {"teacher"}),
                                        ("smooth", {"teacher"})])
def test_every_gpu_stage_declares_what_it_uses(stage, uses):
    assert set(pipeline.load_stage(stage).uses) == uses


def test_services_close_shuts_down_kept_engines(make_cfg, tmp_path, events):
    services = Services(make_cfg(), Path(tmp_path))
    services.engines.get(("hf", "m"), lambda: StudentEngine(events))
    services.close()
    assert events == ["student.load", "student.shutdown"]


def test_manifest_records_the_teacher_through_services(harness, events, tmp_path):
    """_build_node asks Services (teacher_usage / teacher_manifest), never its private teacher, what a stage spent."""
    services, run = harness
    services._teacher = make_teacher(tmp_path / "teacher", lambda m, s: "", remote=False)
    services._teacher.engine.backend = LocalModel(events)
    run("train.sft")  # no teacher built yet would give no record; this one exists but the stage did not use it
    run("locate")
    store = ArtifactStore(tmp_path / "artifacts")
    assert store.get("train", "key-train-sft").manifest["teacher"]["requests"] == 0
    record = store.get("locate", "key-locate").manifest["teacher"]
    assert record["name"] == "scripted" and record["model"] == "scripted-model" and record["requests"] == 1
    assert "budget" in record
    assert Services(services.cfg, tmp_path).teacher_manifest(None) is None
