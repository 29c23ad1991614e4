"""Artifacts are read through the stage that produced them: its file-name constants and typed readers.

Why: a file name is part of an artifact's format. Cached artifacts keep the names they were written with (the key
does not hash them), so a renamed constant would leave every cached artifact unreadable; the names are pinned here.
The readers give consumers records, not paths, and say what a missing optional file means.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lemma.artifacts import MANIFEST, Artifact
from lemma.records import Attempt, Flawed, Problem, SFTExample, Trajectory, write_jsonl
from lemma.stages import build, classify, correct, evaluate, inject, locate, problems, report, sample, smooth, train

FILE_NAMES = {
    (problems, "TRAIN_FILE"): "train.jsonl", (problems, "DEV_FILE"): "dev.jsonl", (problems, "TEST_FILE"): "test.jsonl",
    (sample, "ATTEMPTS_FILE"): "attempts.jsonl", (classify, "LABELS_FILE"): "labels.jsonl",
    (classify, "DISTRIBUTION_FILE"): "distribution.json", (inject, "INJECTED_FILE"): "injected.jsonl",
    (inject, "STATS_FILE"): "injection_stats.json", (locate, "FLAWED_FILE"): "flawed.jsonl",
    (correct, "TRAJECTORIES_FILE"): "trajectories.jsonl", (smooth, "TRAJECTORIES_FILE"): "trajectories.jsonl",
    (build, "SFT_FILE"): "sft.jsonl", (build, "ALPACA_FILE"): "alpaca.jsonl",
    (train, "METRICS_FILE"): "metrics.json", (train, "LOG_FILE"): "train_log.jsonl",
    (evaluate, "GENERATIONS_FILE"): "generations.jsonl", (evaluate, "METRICS_FILE"): "metrics.json",
    (evaluate, "ERROR_TYPES_FILE"): "error_types.json", (report, "REPORT_JSON"): "report.json",
    (report, "REPORT_MD"): "report.md", (report, "PER_PROBLEM_FILE"): "per_problem.json",
}


def _artifact(tmp_path: Path, stage: str, files: dict[str, object]) -> Artifact:
    path = tmp_path / stage / "k"
    path.mkdir(parents=True)
    (path / MANIFEST).write_text(json.dumps({"stats": {"student": "student-model"}}))
    for name, content in files.items():
        if isinstance(content, list):
            write_jsonl(path / name, content)
        else:
            (path / name).write_text(content if isinstance(content, str) else json.dumps(content))
    return Artifact(stage, "k", path)


@pytest.mark.parametrize(("module", "constant"), list(FILE_NAMES), ids=lambda x: getattr(x, "__name__", x))
def test_file_names_are_pinned(module, constant):
    assert getattr(module, constant) == FILE_NAMES[module, constant]


def test_train_names_the_files_the_training_worker_writes():
    worker = pytest.importorskip("lemma.training.worker")  # imports torch, which train.py must not at import
    assert (train.METRICS_FILE, train.LOG_FILE) == (worker.METRICS_FILE, worker.LOG_FILE)


def test_problems_readers_and_the_optional_splits(tmp_path):
    p = Problem("p1", "relations", "q?", "ref", "4")
    art = _artifact(tmp_path, "problems", {problems.TRAIN_FILE: [p], problems.TEST_FILE: [p]})
    assert problems.read_train(art) == [p] and problems.read_test(art) == [p]
    assert problems.read_dev(art) is None  # no dev split written: none, not an empty one
    assert problems.builtin_benchmark_path(art) == art.path / "test.jsonl"
    assert problems.builtin_benchmark_path(art, "dev") == art.path / "dev.jsonl"  # choices (benchmark=relations_dev)
    with pytest.raises(ValueError, match="test or dev split, not 'train'"):
        problems.builtin_benchmark_path(art, "train")  # a train split is never a benchmark


def test_synthesis_readers_return_records(tmp_path):
    attempt = Attempt("a", "p1", 0, "text", "3", False)
    flawed = Flawed(id="f", problem_id="p1", source="self", text="t", extracted="3", error_type="operator_error")
    traj = Trajectory("t", "f", "p1", "self", "operator_error", 1, "fix", "pre", "post")
    row = SFTExample("s", "p1", "relations", "q?", "resp", "self")
    assert sample.read_attempts(_artifact(tmp_path, "sample", {sample.ATTEMPTS_FILE: [attempt]})) == [attempt]
    assert sample.read_student(Artifact("sample", "k", tmp_path / "sample" / "k")) == "student-model"
    labels = _artifact(tmp_path, "classify", {classify.LABELS_FILE: [flawed],
                                              classify.DISTRIBUTION_FILE: {"counts": {}, "total": 0}})
    assert classify.read_labels(labels) == [flawed] and classify.read_distribution(labels)["total"] == 0
    assert inject.read_injected(_artifact(tmp_path, "inject", {inject.INJECTED_FILE: [flawed]})) == [flawed]
    assert locate.read_flawed(_artifact(tmp_path, "locate", {locate.FLAWED_FILE: [flawed]})) == [flawed]
    assert correct.read_trajectories(_artifact(tmp_path, "correct", {correct.TRAJECTORIES_FILE: [traj]})) == [traj]
    assert smooth.read_trajectories(_artifact(tmp_path, "smooth", {smooth.TRAJECTORIES_FILE: [traj]})) == [traj]
    assert build.read_sft(_artifact(tmp_path, "build", {build.SFT_FILE: [row]})) == [row]


def test_train_and_evaluate_readers(tmp_path):
    art = _artifact(tmp_path, "train", {train.METRICS_FILE: {"steps": 6},
                                        train.LOG_FILE: '{"step": 2}\n{"step": 4}\n\n'})
    assert train.read_metrics(art) == {"steps": 6} and [r["step"] for r in train.read_train_log(art)] == [2, 4]
    assert train.budget({"steps": 6, "loss": 1.0}) == {"trained_tokens": None, "steps": 6,
                                                       "clean_solutions_seen": None, "trajectory_rows": None}
    rows = [{"benchmark": "b", "id": "1", "sample": 0, "correct": True}]
    ev = _artifact(tmp_path, "evaluate", {evaluate.GENERATIONS_FILE: json.dumps(rows[0]) + "\n\n",
                                          evaluate.METRICS_FILE: {"average": 1.0}})
    assert evaluate.read_generations(ev) == rows and evaluate.read_metrics(ev) == {"average": 1.0}


def test_the_report_reads_from_its_artifact_and_from_a_run_folder(tmp_path):
    art = _artifact(tmp_path, "report", {report.REPORT_JSON: {"headline": 1.0},
                                         report.PER_PROBLEM_FILE: {"seed": 0, "arms": {}}})
    assert report.read_report(art) == report.read_report(art.path) == {"headline": 1.0}
    assert report.read_per_problem(art.path)["seed"] == 0
    assert set(report.RUN_FILES) == {"report.md", "report.json", "per_problem.json"}


def test_every_synthesis_stage_summarises_its_own_stats():
    """The report assembles the data section from these; each stage's lines start with its bold name."""
    fixture = json.loads((Path(__file__).parent / "data" / "report_run.json").read_text())
    for module in report.SYNTHESIS_STAGES:
        lines = module.summary(fixture["manifests"][module.STAGE.name]["stats"])
        assert lines and all(line.startswith(f"- **{module.STAGE.name}") for line in lines), module.STAGE.name
