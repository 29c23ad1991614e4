"""data=lemma_release: the released Alpaca rows as a JSON array, JSONL or parquet; template and arm checks up front."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from lemma.config import DataConfig, LemmaConfigError, validate
from lemma.prompt_format import get_format
from lemma.release import ReleaseDataError, read_release_file, release_rows

ROWS = [
    {"instruction": "Ann has 3 pens and buys 4 more. How many pens does she have?", "input": "",
     "output": "3 + 4 = 7. Wait, let me check: 3 + 4 = 7.\nThe answer is: 7"},
    {"instruction": "Compute the sum.", "input": "2 + 5",
     "output": "2 + 5 = 8. Wait, 2 + 5 = 7.\nThe answer is: 7"},
]


def _data(path, **extra):
    return OmegaConf.merge(OmegaConf.structured(DataConfig),
                           {"name": "lemma_release", "kind": "release", "release_path": str(path), **extra})


@pytest.mark.parametrize("layout", ["json_array", "jsonl", "jsonl_named_json", "parquet"])
def test_every_layout_of_the_release_reads_the_alpaca_fields(layout, tmp_path):
    if layout == "json_array":
        path = tmp_path / "lemma.json"
        path.write_text(json.dumps(ROWS, indent=2))  # the released file's shape
    elif layout == "parquet":
        pd = pytest.importorskip("pandas")
        pytest.importorskip("pyarrow")
        path = tmp_path / "train.parquet"
        pd.DataFrame(ROWS).to_parquet(path)
    else:
        path = tmp_path / ("lemma.jsonl" if layout == "jsonl" else "lemma.json")
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    rows = release_rows(_data(path), "cot_meta_math")
    assert [r.question for r in rows] == [ROWS[0]["instruction"], "Compute the sum.\n2 + 5"]
    assert [r.response for r in rows] == [ROWS[0]["output"], ROWS[1]["output"]]
    assert {r.source for r in rows} == {"release"} and rows[1].id == "release-000001"


def test_an_instruction_already_in_the_template_is_refused_with_the_row_and_the_fix(tmp_path):
    wrapped = get_format("cot_meta_math").render("How many legs do 3 cats have?")
    path = tmp_path / "lemma.json"
    path.write_text(json.dumps([ROWS[0], {"instruction": wrapped, "input": "", "output": "12\nThe answer is: 12"}]))
    with pytest.raises(ReleaseDataError) as info:
        release_rows(_data(path), "cot_meta_math")
    message = str(info.value)
    assert "row 1" in message and "### Instruction:" in message and "data.release_strip_template=true" in message
    rows = release_rows(_data(path, release_strip_template=True), "cot_meta_math")
    assert rows[1].question == "How many legs do 3 cats have?"  # unwrapped: the template is added once, in training


def test_rows_without_the_alpaca_fields_are_named(tmp_path):
    path = tmp_path / "lemma.json"
    path.write_text(json.dumps([ROWS[0], {"question": "q", "answer": "a"}]))
    with pytest.raises(ReleaseDataError, match=r"row 1: .*instruction and output .*\['answer', 'question'\]"):
        release_rows(_data(path), "cot_meta_math")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(ROWS[0]) + "\n{oops\n")
    with pytest.raises(ReleaseDataError, match=r"broken.jsonl:2"):
        read_release_file(broken)


def test_release_data_with_the_sft_arm_is_refused_before_any_work(make_cfg, tmp_path):
    """The sft arm needs train problems with references; data=lemma_release has none. Said at validation, with the
    arms setting to use, instead of after training and evaluating the lemma arm."""
    cfg = make_cfg("data=lemma_release", f"data.release_path={tmp_path / 'lemma.json'}", "model=llama3_8b",
                   "benchmark=gsm8k")
    with pytest.raises(LemmaConfigError) as info:
        validate(cfg)
    arms = [p for p in info.value.problems if p.startswith("arms:")]  # one per arm that needs synthesis
    assert any(" sft arm " in p for p in arms) and all("arms=[base,lemma]" in p for p in arms)
    ok = make_cfg("data=lemma_release", f"data.release_path={tmp_path / 'lemma.json'}", "model=llama3_8b",
                  "benchmark=gsm8k", "arms=[base,lemma]")
    try:
        validate(ok)
    except LemmaConfigError as exc:  # other checks (files, network) may speak; never about the arms
        assert not [p for p in exc.problems if p.startswith("arms:")]


def test_sample_shots_beyond_the_demo_set_are_refused(make_cfg):
    with pytest.raises(LemmaConfigError, match=r"sample.shots=9, but the GSM8K demo set"):
        validate(make_cfg("sample.shots=9"))
