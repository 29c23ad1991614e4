"""The evaluate stage on a tiny random model: every benchmark reported, both graders, resume, keys, error analysis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lemma.artifacts import Artifact, ArtifactStore
from lemma.benchmarks import load_benchmark
from lemma.evaluation import Graders, score_benchmark
from lemma.generation import Generation
from lemma.pipeline import Services, StageContext, node_key
from lemma.records import Problem, write_jsonl
from lemma.stages import evaluate
from lemma.teacher.base import Label, Outcome
from lemma.taxonomy import ErrorType

pytestmark = pytest.mark.integration
PAPER = ["gsm8k", "math", "asdiv", "deepmind_math", "mawps", "svamp", "college_math"]
ROW_KEYS = {"acc", "n", "role", "timeouts", "empty", "truncated", "acc_qwen_compat", "disagreements", "maj@k",
            "pass@k", "reflect_rate", "wrong_to_right", "right_to_wrong", "file_sha256", "shots", "max_new_tokens",
            "prompt_format", "prompt_sha"}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> dict[str, Path]:
    from lemma.config import TinyModelConfig
    from lemma.model.tiny import build_tiny

    root = tmp_path_factory.mktemp("base")
    texts = ["### Instruction:\nWhat is 3 + 4?\n\n### Response: Let's think step by step. 3 + 4 = 7.\n"
             "The answer is: 7"] * 20
    cfg = TinyModelConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2,
                          max_position_embeddings=192)
    build_tiny(texts, cfg, root / "model", seed=0)
    problems = tmp_path_factory.mktemp("problems")
    write_jsonl(problems / "test.jsonl", [
        Problem(id=f"arith-test-{i}", dataset="arith", question=f"What is {i} + 4?", reference="", gold=str(i + 4),
                meta={"ops": [["+", i, 4]]}) for i in range(5)])
    return {"base": root, "problems": problems}


class FakeTeacher:
    name, model = "fake", "fake-v1"

    def __init__(self) -> None:
        self.seen: list = []

    def classify(self, requests):
        self.seen += requests
        return [Outcome(Label("incorrect", ErrorType.CA, 1)) if i % 2 == 0 else Outcome(failure="parse_failure")
                for i, _ in enumerate(requests)]

    def close(self) -> None:
        pass


def _ctx(cfg, tiny_dir: dict[str, Path], out: Path, arm: str = "base", teacher=None) -> StageContext:
    base = Artifact("base", "k0", tiny_dir["base"])
    problems = Artifact("problems", "k1", tiny_dir["problems"])
    store = ArtifactStore(out / "artifacts")
    services = Services(cfg, out / "cache")
    services._teacher = teacher
    out.mkdir(parents=True, exist_ok=True)
    node = f"evaluate.{arm}"
    inputs = {evaluate.model_node(arm): base, "problems": problems}
    return StageContext(cfg, node, arm, inputs, out / "eval", store, "evalkey", services)


def _run(ctx: StageContext) -> dict:
    ctx.out.mkdir(parents=True, exist_ok=True)
    try:
        stats = evaluate.run(ctx)
    finally:
        ctx.services.close()
    return stats


def test_paper_suite_reports_every_benchmark(make_cfg, tiny_dir, tmp_path):
    cfg = make_cfg("benchmark=paper", "benchmark.limit=2", "benchmark.max_new_tokens=8", "benchmark.grader_workers=1")
    stats = _run(_ctx(cfg, tiny_dir, tmp_path))
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["order"] == PAPER == list(stats["acc"])  # the paper's column order (JSON keys are sorted)
    assert set(metrics["benchmarks"]) == set(PAPER)
    for name, row in metrics["benchmarks"].items():
        assert ROW_KEYS <= set(row), name
        assert row["n"] == 2 and row["max_new_tokens"] == 8 and row["prompt_format"] == "cot_meta_math"
        assert row["shots"] == (4 if name in ("asdiv", "mawps", "svamp") else 0)
        assert row["role"] == ("id" if name in ("gsm8k", "math") else "ood")
    assert metrics["benchmarks"]["asdiv"]["prompt_truncated"] == 2  # 4 demos do not fit a 192-token context
    assert {"average", "average_id", "average_ood", "grader", "model", "decoding"} <= set(metrics)
    assert metrics["grader"].startswith("lemma-grader/") and metrics["model"].endswith("model")
    assert set(metrics["error_analysis_skipped"]) == set(PAPER)  # the symbolic teacher serves arith only
    rows = [json.loads(line) for line in (tmp_path / "eval" / "generations.jsonl").open()]
    assert len(rows) == 14 and {"prompt", "text", "extracted", "correct", "gold", "new_tokens", "truncated",
                                "qwen_correct"} <= set(rows[0])
    asdiv = next(r for r in rows if r["benchmark"] == "asdiv")
    assert asdiv["prompt"].count("### Instruction:") == 5


def test_generations_are_checkpointed_and_reused(make_cfg, tiny_dir, tmp_path, monkeypatch):
    cfg = make_cfg("benchmark=gsm8k", "benchmark.limit=2", "benchmark.max_new_tokens=4", "benchmark.grader_workers=1")
    first = _run(_ctx(cfg, tiny_dir, tmp_path / "a"))

    def boom(*args, **kwargs):
        raise AssertionError("generate called although a checkpoint exists")

    monkeypatch.setattr(evaluate, "generate", boom)
    assert _run(_ctx(cfg, tiny_dir, tmp_path / "a")) == first


def test_arith_error_analysis_with_a_serving_teacher(make_cfg, tiny_dir, tmp_path):
    cfg = make_cfg("benchmark=arith", "benchmark.limit=4", "benchmark.max_new_tokens=4", "benchmark.grader_workers=1",
                   "benchmark.also_qwen_compat=false")
    teacher = FakeTeacher()
    stats = _run(_ctx(cfg, tiny_dir, tmp_path, arm="lemma", teacher=teacher))
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    counts = metrics["error_types"]["arith"]
    wrong = 4 - round(metrics["benchmarks"]["arith"]["acc"] * 4 / 100)
    assert sum(counts.values()) == wrong == len(teacher.seen) and stats["error_analysis"] == ["arith"]
    assert teacher.seen[0].problem.meta == {"ops": [["+", 0, 4]]}  # the test split's Problem, as is
    assert set(counts) <= {"calculation_error", "failed:parse_failure"}
    assert json.loads((tmp_path / "eval" / "error_types.json").read_text())["counts"] == metrics["error_types"]
    assert metrics["benchmarks"]["arith"]["acc_qwen_compat"] is None


def test_scoring_handcrafted_generations_with_both_graders(make_cfg):
    from lemma.grading import Grader

    item = make_cfg("benchmark=gsm8k").benchmark["items"]["gsm8k"]
    bench = load_benchmark(item, limit=2)  # golds 18 and 3
    gens = [[Generation("16 - 3 - 4 = 9 eggs, 9 * 2 = 18. The answer is: 18", 20, False),
             Generation("So 9 eggs. The answer is: 9\nWait, she sells them for $2 each: 18. The answer is: 18", 30,
                        False)],
            [Generation("The answer is: 300", 10, False), Generation("2 + 1 = 3. The answer is: 3", 1024, True)]]
    with Grader(workers=1) as mv, Grader("qwen_compat", workers=1) as qwen:
        rows, m = score_benchmark(bench, ["p0", "p1"], gens, Graders(mv, qwen), max_new_tokens=1024)
    assert [r["correct"] for r in rows] == [True, True, False, True]
    assert [r["qwen_correct"] for r in rows] == [True, True, True, True]  # Qwen's x100 rule: 300 ~ 3
    assert m["acc"] == 75.0 and m["acc_qwen_compat"] == 100.0 and m["disagreements"] == 1
    assert m["disagreement_ids"] == [bench.problems[1].id] and m["truncated"] == 1
    assert m["maj@k"] == {"1": 50.0, "2": 50.0}  # problem 1 ties 300:3, the first-seen wrong answer wins
    assert m["pass@k"] == {"1": 75.0, "2": 100.0}
    assert m["reflect_rate"] == 0.25 and m["wrong_to_right"] == 1.0 and m["right_to_wrong"] == 0.0
    assert rows[1]["first_extracted"] == "9" and rows[1]["first_correct"] is False


def test_key_ignores_execution_fields_and_tracks_content(make_cfg):
    parents = {"base": "b", "problems": "p"}
    key = node_key(make_cfg("benchmark=paper"), "evaluate.base", parents)[0]
    same = node_key(make_cfg("benchmark=paper", "benchmark.batch_size=3", "benchmark.grader_workers=2",
                             "generation.backend=vllm"), "evaluate.base", parents)[0]
    other = node_key(make_cfg("benchmark=paper", "benchmark.limit=20"), "evaluate.base", parents)[0]
    arm = node_key(make_cfg("benchmark=paper"), "evaluate.sft", parents)[0]
    assert key == same and len({key, other, arm}) == 3
    assert evaluate.needs(make_cfg(), "sft") == ("train.sft", "problems")
    assert evaluate.needs(make_cfg(), "base") == ("base", "problems")
    files = evaluate.STAGE.files(make_cfg("benchmark=paper"))
    assert {"grader", "reflection_phrases", "demos/gsm8k", "prompt_format/cot_meta_math"} <= set(files)
