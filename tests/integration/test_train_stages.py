"""The base and train stages as the pipeline calls them: tiny build + warm-up, train.sft, train.lemma, hf refs.

Contexts are built by hand (a problems artifact and a build artifact written here), so the test needs neither the
teacher nor the other stages. Sizes are cut down (6-10 steps) to keep it quick.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from lemma.artifacts import MANIFEST, Artifact, ArtifactStore
from lemma.model import model_path
from lemma.model.loading import load_model, load_tokenizer
from lemma.pipeline import Services, StageContext
from lemma.records import Problem, SFTExample, write_jsonl
from lemma.stages import base, build, problems as problems_stage, train
from lemma.training.synthetic import make_example

pytestmark = pytest.mark.slow
SMALL = ["model.tiny.hidden_size=64", "model.tiny.intermediate_size=128", "model.tiny.num_layers=2",
         "model.tiny.num_heads=2", "model.tiny.warmup.max_steps=10", "model.tiny.warmup.global_batch=8", "train.max_steps=6",
         "train.global_batch=8", "train.log_every=2", "train.save_every=3"]


def _artifact(store: ArtifactStore, stage: str, key: str, files: dict[str, list]) -> Artifact:
    path = store.path(stage, key)
    path.mkdir(parents=True)
    for name, records in files.items():
        write_jsonl(path / name, records)
    (path / MANIFEST).write_text("{}")
    return Artifact(stage, key, path)


def _run(cfg: DictConfig, store: ArtifactStore, node: str, inputs: dict[str, Artifact], key: str) -> Artifact:
    stage_name, _, arm = node.partition(".")
    stage = {"base": base, "train": train}[stage_name].STAGE
    with store.writing(stage_name, key) as out:
        ctx = StageContext(cfg, node, arm or None, inputs, out, store, key, Services(cfg, store.root / "cache"))
        stats = stage.run(ctx)
        (out / MANIFEST).write_text(json.dumps({"stats": stats}))
    return Artifact(stage_name, key, store.path(stage_name, key))


def _problems(n: int) -> list[Problem]:
    rng, out = random.Random(0), []
    for i in range(n):
        question, reference = make_example(rng)
        out.append(Problem(f"p{i}", "arith", question, reference, reference.rsplit(" ", 1)[-1]))
    return out


def test_base_then_both_arms(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    cfg = make_cfg(*SMALL)
    store = ArtifactStore(tmp_path / "artifacts")
    problems = _artifact(store, "problems", "p0", {problems_stage.TRAIN_FILE: _problems(48)})
    base_art = _run(cfg, store, "base", {"problems": problems}, "b0")
    stats = base_art.manifest["stats"]
    assert stats["kind"] == "tiny" and stats["warmup_steps"] == 10 and model_path(base_art).endswith("model")
    assert load_tokenizer(model_path(base_art)).eos_token == "</s>"

    rows = [SFTExample(f"s{i}", p.id, "arith", p.question, "Wait, let me redo it. " + p.reference, "injected")
            for i, p in enumerate(_problems(40))]
    sft = _artifact(store, "build", "k0", {build.SFT_FILE: rows})

    for node, inputs in (("train.sft", {"problems": problems, "base": base_art}),
                         ("train.lemma", {"problems": problems, "base": base_art, "build": sft})):
        art = _run(cfg, store, node, inputs, node.replace(".", "-"))
        stats = art.manifest["stats"]
        assert stats["steps"] == 6 and stats["arm"] == node.split(".")[1] and stats["base_model"]
        metrics = train.read_metrics(art)
        assert metrics["steps"] == 6 and metrics["reload_ok"] and metrics["final_loss"] > 0
        log = train.read_train_log(art)
        assert [r["step"] for r in log] == [2, 4, 6]
        assert {"loss", "lr", "grad_norm", "tokens_per_s", "padding_share"} <= set(log[0])
        assert art.file("job.yaml").is_file() and load_model(model_path(art)) is not None
    lemma_metrics = train.read_metrics(store.get("train", "train-lemma"))
    assert lemma_metrics["examples"] == 6 * 8  # matched arms: max_steps x global_batch rows, one pass


def test_hf_base_is_a_reference(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    cfg = make_cfg("model=llama3_8b")
    store = ArtifactStore(tmp_path / "artifacts")
    problems = _artifact(store, "problems", "p0", {problems_stage.TRAIN_FILE: []})
    art = _run(cfg, store, "base", {"problems": problems}, "b1")
    assert model_path(art) == "meta-llama/Meta-Llama-3-8B" and not art.file("model").exists()
    assert art.manifest["stats"]["model_path"] == "meta-llama/Meta-Llama-3-8B"


def test_sft_arm_without_problems_explains(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    cfg = make_cfg(*SMALL)
    store = ArtifactStore(tmp_path / "artifacts")
    problems = _artifact(store, "problems", "p0", {problems_stage.TRAIN_FILE: []})
    with pytest.raises(ValueError, match="arms=\\[base,lemma\\]"):
        _run(cfg, store, "train.sft", {"problems": problems, "base": problems}, "t0")
    assert train.STAGE.needs(cfg, "sft") == ("problems", "base")
    assert train.STAGE.needs(cfg, "lemma") == ("problems", "base", "build")
    assert base.STAGE.needs(cfg, None) == ("problems",) and "build.trajectory_share" in train.STAGE.keys
