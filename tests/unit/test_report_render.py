"""The report renders the same report.md from the same artifacts, whoever formats each stage's line.

Why: report.md is what a reader of a run (and the paper tables built from sweeps) sees; moving the formatting of the
data statistics into the stages that produce them, and reading artifacts through their producers, must not change a
character. The fixture is a real default run (tests/unit/data/report_run.json: manifests, metrics.json, a few
generations); report_run.md is what the report stage rendered for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lemma.artifacts import MANIFEST, Artifact
from lemma.records import write_jsonl
from lemma.stages import evaluate, report

DATA = Path(__file__).parent / "data"


def _namespace(value: Any) -> Any:
    return SimpleNamespace(**{k: _namespace(v) for k, v in value.items()}) if isinstance(value, dict) else value


def _artifact(root: Path, node: str, manifest: dict[str, Any], files: dict[str, Any]) -> Artifact:
    stage = node.split(".")[0]
    path = root / stage / manifest["key"]
    path.mkdir(parents=True)
    (path / MANIFEST).write_text(json.dumps(manifest))
    for name, content in files.items():
        if isinstance(content, list):
            write_jsonl(path / name, content)
        else:
            (path / name).write_text(json.dumps(content))
    return Artifact(stage, manifest["key"], path)


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """report.run on the fixture's artifacts; returns its output folder and what it returned."""
    fixture = json.loads((DATA / "report_run.json").read_text())
    inputs = {}
    for node, manifest in fixture["manifests"].items():
        arm = node.split(".")[1] if node.startswith("evaluate.") else None
        files = {evaluate.METRICS_FILE: fixture["metrics"][arm],
                 evaluate.GENERATIONS_FILE: fixture["generations"][arm]} if arm else {}
        inputs[node] = _artifact(tmp_path / "artifacts", node, manifest, files)
    out = tmp_path / "out"
    out.mkdir()
    cfg = _namespace(fixture["config"])
    ctx = SimpleNamespace(cfg=cfg, inputs=inputs, input=inputs.__getitem__, out=out)
    return out, report.run(ctx)


def test_the_report_of_a_real_run_renders_unchanged(built):
    out, stats = built
    assert stats == {"headline": 25.1, "arms": ["base", "sft", "clean", "lemma"]}
    assert (out / report.REPORT_MD).read_text() == (DATA / "report_run.md").read_text()
    generations = json.loads((DATA / "report_run.json").read_text())["generations"]
    assert report.read_per_problem(out) == {
        "seed": 0, "variant": None, "arms": {arm: {r["id"]: r["correct"] for r in rows}
                                             for arm, rows in generations.items()}}


def test_the_data_section_of_partial_runs():
    """Stages a run does not have are left out; an empty dict reads `none`; one correction strategy, one line."""
    fixture = json.loads((DATA / "report_run.json").read_text())
    stats = {node: m["stats"] for node, m in fixture["manifests"].items()}
    assert report.data_section({}) == ["(no synthesis stages in this run)"]
    correct = {**stats["correct"], "fresh": None}
    del correct["fresh"]
    smooth = {"trajectories": 4, "asked": 3, "smoothed": 2, "failed_parse": 1}
    assert report.data_section({"correct": correct, "smooth": smooth}) == [
        "- **correct / Fix & Continue**: 7593 of 8035 verified (4564 distinct reflection phrases); dropped: "
        "no_error_found 442.",
        "- **smooth**: 3 trajectories sent; smoothed 2, failed_parse 1.",
    ]
    assert report.data_section({"sample": stats["sample"], "build": stats["build"]}) == [
        "- **sample**: 4000 student attempts on 4000 problems, 30.3% correct; 2787 problems with at least one error.",
        "- **build**: 14294 SFT examples; by source injected 9162, self 5132; by strategy fix 6926, fresh 7368; by "
        "error type confusing_concept_error 5634, context_value_error 2818, contradictory_step 30, hallucination 442, "
        "missing_step 3428, operator_error 1942; dropped: benchmark_overlap 0, duplicate 1334, source_not_selected 0.",
    ]


def test_reference_rows_come_from_the_suite_config_and_are_never_mixed_in():
    rep = {"benchmarks": ["gsm8k"], "results": {"lemma": {"title": "LEMMA", "gsm8k": 50.0, "average": 50.0}},
           "reference_results": {"LEMMA (paper, LLaMA3-8B)": {"gsm8k": 79.2, "average": 62.4}}}
    rows = report.results_table(rep, "paper")
    assert rows[-2:] == ["| LEMMA | 50.0 | 50.0 |", "| *LEMMA (paper, LLaMA3-8B)* | 79.2 | 62.4 |"]
    assert report.results_table({**rep, "reference_results": {}}, "paper")[-1] == "| LEMMA | 50.0 | 50.0 |"
