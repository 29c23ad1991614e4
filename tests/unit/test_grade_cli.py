"""``python -m lemma.grade``: output fields, gold normalisation, modes, malformed lines (never a crash)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lemma
from lemma.grade import main


def _write_jsonl(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _summary(stderr: str) -> dict[str, object]:
    return next(json.loads(line) for line in stderr.splitlines() if line.startswith("{"))


RECORDS = [
    {"prediction": "So she makes 9 * 2 = 18.\nThe answer is: 18", "gold": "18", "id": "a"},
    {"prediction": "\\boxed{500}", "gold": "5", "id": "b"},
    {"prediction": "Thus $\\boxed{\\dfrac{9}{7}}$.", "gold": "\\frac{9}{7}", "id": "c"},
    {"prediction": "0.5", "gold": "\\frac{1}{2}", "id": "d"},
]


def test_output_is_input_plus_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", RECORDS)
    out = tmp_path / "out" / "graded.jsonl"
    assert main([str(src), "-o", str(out), "--timeout", "5", "--workers", "1"]) == 0
    rows = _read_jsonl(out)
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"]
    assert [r["correct"] for r in rows] == [True, False, True, True]
    assert [r["extracted"] for r in rows] == ["18", "500", "\\dfrac{9}{7}", "0.5"]
    assert all(r["prediction"] == rec["prediction"] and "timed_out" not in r for r, rec in zip(rows, RECORDS))
    summary = _summary(capsys.readouterr().err)
    assert summary["count"] == 4 and summary["accuracy"] == 75.0
    assert summary["timeouts"] == 0 and summary["malformed"] == 0


def test_stdout_when_no_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", RECORDS[:2])
    assert main([str(src)]) == 0  # both numeric: decided without starting a worker
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["correct"] for r in rows] == [True, False]
    assert _summary(captured.err)["count"] == 2


def test_malformed_lines_are_reported_and_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_jsonl(
        tmp_path / "in.jsonl",
        [
            RECORDS[0],
            "{not json",
            ["a", "list"],
            {"gold": "1"},
            {"prediction": 5, "gold": "5"},
            {"prediction": "1", "gold": None},
            {"prediction": "1", "gold": "1", "dataset": "no-such-dataset"},
            "",
            {"prediction": "The answer is 7", "gold": "7"},
        ],
    )
    out = tmp_path / "out.jsonl"
    assert main([str(src), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    for line_number in (2, 3, 4, 5, 6, 7):
        assert f"line {line_number}: malformed" in err
    assert "line 8" not in err  # blank lines are not records
    summary = _summary(err)
    assert summary["malformed"] == 6 and summary["count"] == 2
    assert [r["correct"] for r in _read_jsonl(out)] == [True, True]


def test_dataset_normalises_golds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"prediction": "The answer is 1234", "gold": "Some steps.\n#### 1,234"},
            {"prediction": "The answer is 9", "gold": "9 (apples)", "dataset": "asdiv"},  # line field wins
            {"prediction": "The answer is 43", "gold": 43.0, "dataset": "mawps"},
        ],
    )
    out = tmp_path / "out.jsonl"
    assert main([str(src), "-o", str(out), "--dataset", "gsm8k"]) == 0
    assert [r["correct"] for r in _read_jsonl(out)] == [True, True, True]
    assert _summary(capsys.readouterr().err)["malformed"] == 0


def test_qwen_compat_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"prediction": "The answer is 500", "gold": "5"}])
    out = tmp_path / "out.jsonl"
    assert main([str(src), "-o", str(out), "--mode", "qwen_compat"]) == 0
    assert _read_jsonl(out)[0]["correct"] is True
    assert _summary(capsys.readouterr().err)["mode"] == "qwen_compat"


def test_timeouts_are_marked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"prediction": "\\boxed{9^{9^{9^{9}}}}", "gold": "1"}])
    out = tmp_path / "out.jsonl"
    assert main([str(src), "-o", str(out), "--timeout", "1", "--workers", "1"]) == 0
    row = _read_jsonl(out)[0]
    assert row["correct"] is False and row["timed_out"] is True
    assert _summary(capsys.readouterr().err)["timeouts"] == 1


def test_missing_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "absent.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.integration
def test_module_entry_point(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", RECORDS + ["garbage"])
    env = dict(os.environ)
    repo = str(Path(lemma.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "lemma.grade", str(src), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["correct"] for line in proc.stdout.splitlines()] == [True, False, True, True]
    assert "line 5: malformed" in proc.stderr
    assert _summary(proc.stderr)["accuracy"] == 75.0
