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


def test_truncated_field_and_generation_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rows as generations files carry them ('text', 'truncated'): a cut-off response without a marker is wrong."""
    cut = "Omar buys 3 bags of 4 apples, so 12 apples. He gives away 5 *"
    src = _write_jsonl(tmp_path / "in.jsonl", [
        {"text": cut, "gold": "5", "truncated": True},
        {"text": "So Omar keeps 5", "gold": "5", "truncated": False},
        {"prediction": "First 2 + 3 = 5, then", "gold": "5", "truncated": True},
        {"prediction": "The answer is 5.\nLet me verify: 5 *", "gold": "5", "truncated": True},
        {"prediction": "5", "gold": "5", "truncated": "yes"},
    ])
    out = tmp_path / "out.jsonl"
    assert main([str(src), "-o", str(out), "--workers", "1"]) == 0
    rows = _read_jsonl(out)
    assert [r["correct"] for r in rows] == [False, True, False, True]
    assert [r.get("truncated_no_answer", False) for r in rows] == [True, False, True, False]
    err = capsys.readouterr().err
    assert "line 5: malformed" in err
    summary = _summary(err)
    assert summary["truncated_no_answer"] == 2 and "wrong" in summary["truncation_rule"]


def test_qwen_compat_says_it_keeps_the_last_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"prediction": "He gives away 5 *", "gold": "5", "truncated": True}])
    out = tmp_path / "out.jsonl"
    assert main([str(src), "-o", str(out), "--mode", "qwen_compat"]) == 0
    row = _read_jsonl(out)[0]
    assert row["correct"] is True and row["truncated_no_answer"] is True
    assert "last number" in _summary(capsys.readouterr().err)["truncation_rule"]


COMPARE_RECORDS = [
    # plain Math-Verify takes the boxed 12 (its priority), lemma the answer the response ends with
    {"prediction": "So $x = \\boxed{12}$.\n\nWait, I dropped a term. It gives 15.\nThe answer is: 15", "gold": "15"},
    {"prediction": "Then he gives away 5 *", "gold": "5", "truncated": True},
    {"prediction": "The answer is $\\boxed{10^{-21}}$", "gold": "$10^{-20}$"},  # Math-Verify rounds to 6 decimals
    {"prediction": "Thus $\\boxed{\\dfrac{9}{7}}$.", "gold": "\\dfrac{9}{7}"},  # a bare gold Math-Verify cannot parse
    {"prediction": "The answer is 1,22", "gold": "1.22"},  # both read the decimal comma
    {"prediction": "\\boxed{(1, 2)}, \\boxed{(2, 1)}", "gold": "$(1, 2), (2, 1)$"},  # both join the boxes
]


def test_compare_with_math_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", COMPARE_RECORDS)
    out = tmp_path / "out.jsonl"
    assert main([str(src), "-o", str(out), "--compare", "math_verify", "--workers", "2"]) == 0
    rows = _read_jsonl(out)
    assert [r["correct"] for r in rows] == [True, False, False, True, True, True]
    assert [r["math_verify"]["correct"] for r in rows] == [False, True, True, False, True, True]
    assert rows[0]["math_verify"]["extracted"] == "12" and rows[0]["extracted"] == "15"
    assert [r.get("disagreement") for r in rows] == [
        "last answer wins", "truncated response", "exact numbers", "gold as an answer", None, None]
    err = capsys.readouterr().err
    report = _summary(err)["math_verify"]
    assert report["compared"] == 6 and report["disagreements"] == 4 and report["accuracy"] == 66.67
    assert report["by_rule"] == {"last answer wins": 1, "truncated response": 1, "exact numbers": 1,
                                 "gold as an answer": 1}
    assert "4 disagreements with plain math_verify (6 compared)" in err


def test_no_compare_fields_without_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", COMPARE_RECORDS[:1])
    out = tmp_path / "out.jsonl"
    assert main([str(src), "-o", str(out), "--workers", "1"]) == 0
    row = _read_jsonl(out)[0]
    assert "math_verify" not in row and "disagreement" not in row
    assert "math_verify" not in _summary(capsys.readouterr().err)
