"""The dev-split choice of one setting (lemma.dev_choice): the rule, its guards, and the table it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lemma import dev_choice


def _job(sweep: Path, num: int, overrides: list[str], acc: dict[str, float], bench: str = "relations_dev") -> None:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    split = "dev" if bench.endswith("_dev") else "test"
    item = {"name": bench, "source": "builtin", "split": split}
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"benchmark": {"items": {bench: item}}}))
    mech = {arm: {"benchmark": bench, "acc": value} for arm, value in acc.items()}
    results = {arm: {"title": arm, bench: value, "average": value} for arm, value in acc.items()}
    (job / "report.json").write_text(json.dumps({"mechanism": mech, "results": results, "benchmarks": [bench]}))
    seed = next(o.split("=")[1] for o in overrides if o.startswith("seed="))
    verdicts = {arm: {"p1": value > 30} for arm, value in acc.items()}  # what lemma.paired pairs
    (job / "per_problem.json").write_text(json.dumps({"seed": seed, "variant": None, "arms": verdicts}))


def _sweep(tmp_path: Path, rows: dict[tuple[str, str], tuple[float, float, float]], bench: str = "relations_dev") -> Path:
    for num, ((seed, lr), (sft, clean, lemma)) in enumerate(rows.items()):
        _job(tmp_path, num, [f"seed={seed}", f"train.lr={lr}"], {"sft": sft, "clean": clean, "lemma": lemma}, bench)
    return tmp_path


def test_the_rule_averages_seeds_and_arms(tmp_path: Path) -> None:
    # lr 1e-3 wins lemma on seed 0 by a lot, but 2e-3 is better on average over both seeds and all three arms
    sweep = _sweep(tmp_path, {("0", "1e-3"): (30, 30, 45), ("1", "1e-3"): (20, 20, 20),
                              ("0", "2e-3"): (33, 33, 33), ("1", "2e-3"): (30, 30, 30)})
    key, found = dev_choice.candidates(sweep)
    assert key == "train.lr"
    best = dev_choice.choose(found)
    assert best.value == "2e-3" and best.score == pytest.approx(31.5)
    assert dev_choice.main([str(sweep)]) == 0
    text = (sweep / dev_choice.OUTPUT).read_text()
    assert "| 2e-3 **(chosen)** | 31.5 | 31.5 | 31.5 | 31.50 | 33.0 | 30.0 |" in text
    assert "Chosen on dev: train.lr=2e-3" in text


def test_a_tie_goes_to_the_smaller_value_and_a_half_measured_value_waits(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, {("0", "4e-3"): (30, 30, 30), ("0", "1e-3"): (30, 30, 30), ("1", "1e-3"): (30, 30, 30),
                              ("1", "4e-3"): (30, 30, 30), ("0", "8e-3"): (90, 90, 90)})
    _, found = dev_choice.candidates(sweep)
    assert sorted(c.value for c in found) == ["1e-3", "4e-3"]  # 8e-3 has no seed 1 yet
    assert dev_choice.choose(found).value == "1e-3"


def test_a_test_split_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = _sweep(tmp_path, {("0", "1e-3"): (30, 30, 30), ("0", "2e-3"): (31, 31, 31)}, bench="relations")
    assert dev_choice.main([str(sweep)]) == 2
    assert "not a dev split" in capsys.readouterr().err
    assert not (sweep / dev_choice.OUTPUT).exists()


def test_two_swept_settings_are_refused(tmp_path: Path) -> None:
    _job(tmp_path, 0, ["seed=0", "train.lr=1e-3", "build.trajectory_share=0.2"], {"sft": 1, "clean": 1, "lemma": 1})
    _job(tmp_path, 1, ["seed=0", "train.lr=2e-3", "build.trajectory_share=0.3"], {"sft": 1, "clean": 1, "lemma": 1})
    with pytest.raises(ValueError, match="exactly one setting"):
        dev_choice.candidates(tmp_path)


def test_a_learning_rate_sweep_gets_no_paired_table(tmp_path: Path) -> None:
    """Paired differences assume jobs of one seed share sft and clean; jobs that differ by lr do not."""
    from lemma.sweep import write_summary

    sweep = _sweep(tmp_path, {("0", "1e-3"): (30, 30, 45), ("0", "2e-3"): (33, 33, 33)})
    write_summary(sweep)
    assert (sweep / "summary.md").is_file() and not (sweep / "paired.md").exists()
