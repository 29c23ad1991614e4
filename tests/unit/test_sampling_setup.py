"""Student sampling as the paper ran it: MATH-sized budget, demos before the question, vLLM by default on GPU nodes."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from lemma.artifacts import Artifact, ArtifactStore
from lemma.demos import load_demos
from lemma.generation import Generation, choose_backend
from lemma.pipeline import Services, StageContext
from lemma.model import MODEL_REF
from lemma.records import Problem, write_jsonl
from lemma.stages import problems, sample


def test_defaults_fit_math_and_pick_the_backend_automatically(make_cfg):
    cfg = make_cfg("data=gsm8k_math", "model=llama3_8b", "teacher=gpt4o", "benchmark=paper")
    assert cfg.sample.max_new_tokens >= 1024  # the paper's evaluation budget; MATH solutions are long
    assert cfg.sample.n > 1 and cfg.sample.temperature == 0.7 and cfg.build.trajectory_share is None
    assert str(cfg.generation.backend) == "auto"
    world = make_cfg()  # the relations world samples its student greedily, with its own short budget
    assert world.sample.temperature == 0.0 and world.sample.max_new_tokens <= world.model.tiny.max_position_embeddings


@pytest.mark.parametrize("cuda,installed,kind,expected", [
    (True, True, "hf", "vllm"), (True, False, "hf", "hf"), (False, True, "hf", "hf"), (True, True, "tiny", "hf")])
def test_auto_chooses_vllm_only_where_cuda_and_vllm_are_present(cuda, installed, kind, expected):
    assert choose_backend("auto", cuda=cuda, vllm_installed=installed, model_kind=kind) == expected
    assert choose_backend("hf", cuda=True, vllm_installed=True) == "hf"  # an explicit choice stands


def test_sample_stage_shows_the_demos_and_uses_the_budget(make_cfg, tmp_path, monkeypatch):
    cfg = make_cfg("sample.shots=2", "sample.n=1", "sample.max_new_tokens=1024")
    problems_dir, base_dir = tmp_path / "problems", tmp_path / "base"
    problems_dir.mkdir()
    base_dir.mkdir()
    write_jsonl(problems_dir / problems.TRAIN_FILE,
                [Problem("p1", "gsm8k", "What is 2 + 2?", "2 + 2 = 4.\nThe answer is: 4", "4")])
    (base_dir / MODEL_REF).write_text(json.dumps({"model_path": "student"}))
    seen = {}

    def fake_generate(model, prompts, spec, **kw):  # the model, at the edge
        seen.update(model=model, prompts=prompts, spec=spec, backend=kw["backend"], engines=kw["engines"])
        return [[Generation("2 + 2 = 4.\nThe answer is: 4", 12, False)] for _ in prompts]

    class Grader:
        def grade(self, preds, golds):
            return [SimpleNamespace(extracted="4", correct=True, timed_out=False) for _ in preds]

    monkeypatch.setattr(sample, "generate", fake_generate)
    services = Services(cfg, tmp_path / "cache", _grader=Grader())
    out = tmp_path / "out"
    out.mkdir()
    ctx = StageContext(cfg, "sample", None, {"problems": Artifact("problems", "k", problems_dir),
                                             "base": Artifact("base", "k", base_dir)},
                       out, ArtifactStore(tmp_path / "artifacts"), "key", services)
    stats = sample.run(ctx)
    (q1, a1), (q2, _) = load_demos()[:2]
    prompt = seen["prompts"][0]
    assert prompt.index(q1) < prompt.index(a1) < prompt.index(q2) < prompt.index("What is 2 + 2?")
    assert seen["spec"].max_new_tokens == 1024 and seen["engines"] is services.engines
    assert stats["shots"] == 2 and stats["accuracy"] == 100.0
    assert set(sample.STAGE.files(cfg)) > set(sample.STAGE.files(make_cfg())), "demos go into the key"
    assert [a.correct for a in sample.read_attempts(Artifact("sample", "key", out))] == [True]
