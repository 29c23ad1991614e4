"""The whole synthesis chain (classify -> inject -> locate -> correct -> smooth -> build) with the LLM teacher over HTTP.

`python run.py data=gsm8k_math data.limit=20 teacher=openai teacher.base_url=http://127.0.0.1:PORT/v1 stage=build`,
composed here with the Compose API. Real data needs a real student (validate() refuses model=tiny on GSM8K/MATH),
and no weights can be downloaded in tests, so the `base` and `sample` artifacts are pre-committed under the keys the
pipeline computes: per problem, the reference as a correct sample and a rule-made wrong sample (one number changed),
both graded by the real grader. Every later stage is the real code, talking to the loopback server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import DictConfig

from lemma import pipeline
from lemma.artifacts import ArtifactStore, write_json
from lemma.grading import Grader
from lemma.records import Attempt, Problem, write_jsonl
from lemma.stages.build import read_sft
from lemma.stages.problems import read_train
from lemma.stages.sample import ATTEMPTS_FILE
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.integration
LIMIT = 20
TEACHER_STAGES = ("classify", "inject", "locate", "correct", "smooth")
BUILD_OVERRIDES: tuple[str, ...] = ()  # build decontaminates against build.decontaminate_against (the shipped files)


def _seed_student(cfg: DictConfig) -> list[Problem]:
    """Commit `base` (empty) and `sample` (graded attempts) where the pipeline will look for them."""
    pipeline.run(_with(cfg, "problems"))
    store, keys = ArtifactStore(Path(cfg.paths.artifacts).resolve()), {}
    for node in ("problems", "base", "sample"):
        keys[node], _ = pipeline.node_key(cfg, node, {p: keys[p] for p in pipeline.needs_of(cfg, node)})
    problems = read_train(store.get("problems", keys["problems"]))
    texts = [(p, k, text) for p in problems for k, text in enumerate((p.reference, _wrong(p.reference)))]
    grader = Grader(mode="math_verify", timeout_s=10.0, workers=1)
    try:
        verdicts = grader.grade([t for _, _, t in texts], [p.gold for p, _, _ in texts])
    finally:
        grader.close()
    attempts = [Attempt(f"{p.id}-s{k}", p.id, k, text, v.extracted, v.correct) for (p, k, text), v in zip(texts, verdicts)]
    for node, files in (("base", {}), ("sample", {ATTEMPTS_FILE: attempts})):
        with store.writing(node, keys[node]) as out:
            for name, records in files.items():
                write_jsonl(out / name, records)
            write_json(out / "manifest.json", {"stage": node, "key": keys[node], "stats": {"student": "seeded-student"}})
    return problems


def _wrong(reference: str) -> str:
    """A student slip at the end (the injector, by rule, changes the first result instead, so the two differ)."""
    body, _, gold = reference.rpartition("The answer is:")
    gold = gold.strip()
    wrong = str(int(gold) + 2) if gold.lstrip("-").isdigit() else "0"
    return f"{body.rstrip()}\nSo the result is {wrong}.\nThe answer is: {wrong}"


def _teacher_manifests(cfg: DictConfig, result: pipeline.RunResult) -> dict[str, dict]:
    store = ArtifactStore(Path(cfg.paths.artifacts).resolve())
    return {stage: store.get(stage, result.lineage[stage].split("/")[1]).manifest["teacher"] for stage in TEACHER_STAGES}


def _with(cfg: DictConfig, stage: str, force: list[str] | None = None) -> DictConfig:
    out = cfg.copy()
    out.stage = stage
    out.force = force or []
    return out


def test_synthesis_chain_to_build_with_the_llm_teacher(make_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("LEMMA_FAKE_KEY", "sk-fake-pipeline")
    with FakeOpenAIServer() as server:
        cfg = make_cfg("data=gsm8k_math", f"data.limit={LIMIT}", "model=llama3_8b", "benchmark=gsm8k",
                       "teacher=openai", f"teacher.base_url={server.base_url}", "teacher.api_key_env=LEMMA_FAKE_KEY",
                       "teacher.seed=0", "stage=build", *BUILD_OVERRIDES)
        problems = _seed_student(cfg)
        server.bank.update({p.question: p.reference for p in problems})
        result = pipeline.run(cfg)
        answered = sum(server.stats.answered.values())
        first = _teacher_manifests(cfg, result)
        rerun = pipeline.run(_with(cfg, "build", force=["classify"]))  # recompute every teacher stage
        assert sum(server.stats.answered.values()) == answered  # ... without a single new request
        again = _teacher_manifests(cfg, rerun)

    assert {"classify", "inject", "locate", "correct", "smooth", "build"} <= set(result.computed)
    store = ArtifactStore(Path(cfg.paths.artifacts).resolve())
    build = store.get("build", result.lineage["build"].split("/")[1])
    rows = read_sft(build)
    lemma_rows = [r for r in rows if r.strategy in ("fix", "fresh")]
    assert len(lemma_rows) >= LIMIT  # verified error -> reflection -> correct trajectories
    assert {r.strategy for r in lemma_rows} == {"fix", "fresh"} and {r.source for r in lemma_rows} == {"self", "injected"}
    assert all(r.teacher == "gpt-4o" and r.error_type and r.error_step for r in lemma_rows)
    for stage in TEACHER_STAGES:
        assert first[stage]["requests"] > 0 and first[stage]["model"] == "gpt-4o" and "cost_usd" in first[stage]
        assert again[stage]["requests"] == 0 and again[stage]["cache_hits"] >= first[stage]["requests"]
    assert set(rerun.computed) >= set(TEACHER_STAGES)
    print(f"\nchain: {len(problems)} problems -> {len(lemma_rows)} LEMMA rows; server answered {answered} requests")
