"""Benchmark configs: every option composes, loads its pinned file, and yields the golds EVALUATION.md §1 describes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lemma.benchmarks import (BenchmarkFileError, build_prompt, check_files, field_value, load_benchmark,
                              prompt_sha)
from lemma.config import DATA_ROOT, BenchmarkItem
from lemma.demos import load_demos, shots_for
from lemma.prompt_format import COT_META_MATH


# name -> (items, first golds, shots, role)
EXPECTED = {
    "gsm8k": (1319, ["18", "3", "70000"], 0, "id"),
    "math": (5000, ["2", "10", "\\dfrac{9}{7}"], 0, "id"),
    "math500": (500, ["\\left( 3, \\frac{\\pi}{2} \\right)", "p - q"], 0, "id"),
    "asdiv": (2215, ["9", "15", "16"], 4, "ood"),
    "svamp": (1000, ["145", "19", "3"], 4, "ood"),
    "mawps": (2354, ["43", "26", "6"], 4, "ood"),
    "mawps_qwen": (2065, ["43", "26", "135"], 4, "ood"),
    "deepmind_math": (1000, ["2", "[3]", "831"], 0, "ood"),
    "college_math": (2818, ["10-4 n", "(45,2),(-10,-9)"], 0, "ood"),
    "minerva_math": (272, ["1.6", "4.5e33"], 0, "ood"),
    "olympiadbench": (675, ["2", "\\frac{1}{2 n+2}"], 0, "ood"),
}
PAPER = ["gsm8k", "math", "asdiv", "deepmind_math", "mawps", "svamp", "college_math"]


def _item(make_cfg, name: str):
    return make_cfg(f"benchmark={name}").benchmark["items"][name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_benchmark_loads_its_pinned_file(make_cfg, name):
    count, golds, shots, role = EXPECTED[name]
    item = _item(make_cfg, name)
    bench = load_benchmark(item)
    assert bench.total == len(bench.problems) == count
    assert bench.file_sha256 == item.sha256
    assert [p.gold for p in bench.problems[: len(golds)]] == golds
    assert (item.shots, item.role, item.prompt_format, item.max_new_tokens) == (shots, role, "cot_meta_math", 1024)
    assert len({p.id for p in bench.problems}) == count and all(p.question for p in bench.problems)


def test_gold_and_question_rules(make_cfg):
    gsm8k = load_benchmark(_item(make_cfg, "gsm8k")).problems
    assert all("," not in p.gold and p.gold.lstrip("-").replace(".", "").isdigit() for p in gsm8k)
    asdiv = load_benchmark(_item(make_cfg, "asdiv")).problems
    assert asdiv[0].question == ("Seven red apples and two green apples are in the basket. "
                                 "How many apples are in the basket?")
    assert not any(p.gold.endswith(")") and "(" in p.gold and p.gold[0].isdigit() for p in asdiv[:200])
    svamp = load_benchmark(_item(make_cfg, "svamp")).problems
    assert svamp[0].question.endswith("organized into 93 groups. How big is each group of bananas?")
    assert not any(p.gold.endswith(".0") for p in svamp)
    mawps = load_benchmark(_item(make_cfg, "mawps")).problems
    assert mawps[0].question == ("Joan found 70 seashells on the beach . she gave Sam some of her seashells . "
                                 "She has 27 seashell . How many seashells did she give to Sam ?")
    deepmind = [p.gold for p in load_benchmark(_item(make_cfg, "deepmind_math")).problems]
    assert sum(g.startswith("[") for g in deepmind) == 26  # list answers kept as lists
    college = load_benchmark(_item(make_cfg, "college_math")).problems
    assert not any("$" in p.gold for p in college)
    math = load_benchmark(_item(make_cfg, "math")).problems
    assert math[0].meta["level"] == "Level 3" and "boxed" not in math[0].gold


def test_paper_suites_compose_from_sibling_options(make_cfg):
    assert list(make_cfg("benchmark=paper").benchmark["items"]) == PAPER
    assert list(make_cfg("benchmark=paper_id").benchmark["items"]) == ["gsm8k", "math"]
    ood = make_cfg("benchmark=paper_ood").benchmark["items"]
    assert list(ood) == ["asdiv", "deepmind_math", "mawps", "svamp", "college_math"]
    assert {i.role for i in ood.values()} == {"ood"}
    cfg = make_cfg("benchmark=paper", "benchmark.limit=3")
    assert check_files(cfg.benchmark) == []
    assert cfg.benchmark["items"]["mawps"].path.endswith("mawps_refaug/mawps.json")
    assert [len(load_benchmark(i, limit=cfg.benchmark.limit).problems) for i in cfg.benchmark["items"].values()] \
        == [3] * 7


def test_shots_four_gsm8k_demos_for_asdiv_none_for_gsm8k(make_cfg):
    asdiv, gsm8k = _item(make_cfg, "asdiv"), _item(make_cfg, "gsm8k")
    prompt = build_prompt("How many?", asdiv)
    assert prompt.count("### Instruction:") == 5 and prompt.count("The answer is:") == 4
    for question, response in load_demos():
        assert question in prompt and response in prompt
    assert prompt.endswith(COT_META_MATH.format(question="How many?"))
    assert "\n\n### Instruction:\n" in prompt  # demos joined by a blank line
    assert build_prompt("How many?", gsm8k) == COT_META_MATH.format(question="How many?")
    assert prompt_sha(asdiv) != prompt_sha(gsm8k)


def test_demos_are_gsm8k_train_problems_without_stop_strings():
    demos = load_demos()
    assert len(demos) == 4
    train = DATA_ROOT / "train" / "gsm8k" / "train.jsonl"
    questions = {json.loads(line)["question"] for line in train.open()}
    for question, response in demos:
        assert response.splitlines()[-1].startswith("The answer is: ")
        assert "\n\n" not in response
        assert question in questions
    with pytest.raises(ValueError, match="holds 4"):
        shots_for(8)


def test_hash_mismatch_names_the_file_and_the_fix(tmp_path):
    data = tmp_path / "bench.jsonl"
    data.write_text('{"question": "1+1?", "answer": "#### 2"}\n')
    item = BenchmarkItem(name="toy", path=str(data), gold_kind="gsm8k", sha256="0" * 64)
    with pytest.raises(BenchmarkFileError) as err:
        load_benchmark(item)
    text = str(err.value)
    assert str(data) in text and "0" * 64 in text
    assert "benchmark.items.toy.sha256=" in text and "restore the original file" in text
    missing = BenchmarkItem(name="gone", path=str(tmp_path / "nope.jsonl"))
    with pytest.raises(BenchmarkFileError, match="does not exist"):
        load_benchmark(missing)


def test_any_local_path_unpinned_and_limit(tmp_path):
    data = tmp_path / "mine.json"
    data.write_text(json.dumps([{"q": {"text": f"{i}+1?"}, "sol": [float(i + 1)]} for i in range(5)]))
    item = BenchmarkItem(name="mine", path=str(data), format="json", question_fields=["q.text"],
                         gold_field="sol.0", gold_kind="svamp")
    bench = load_benchmark(item, limit=2)
    assert [(p.question, p.gold) for p in bench.problems] == [("0+1?", "1"), ("1+1?", "2")]
    assert bench.total == 5 and len(bench.file_sha256 or "") == 64
    assert field_value({"a": [{"b": 7}]}, "a.0.b") == 7


def test_tampered_copy_is_refused(tmp_path, make_cfg):
    item = _item(make_cfg, "svamp")
    copy = tmp_path / "svamp.jsonl"
    shutil.copyfile(item.path, copy)
    with copy.open("a") as fh:
        fh.write("\n")
    item.path = str(copy)
    with pytest.raises(BenchmarkFileError, match="svamp.sha256="):
        load_benchmark(item)


def test_builtin_reads_the_problems_test_split(tmp_path):
    from lemma.records import Problem, write_jsonl

    path = tmp_path / "test.jsonl"
    write_jsonl(path, [Problem(id=f"a{i}", dataset="arith", question=f"{i}+1", reference="", gold=str(i + 1),
                               meta={"expr": i}) for i in range(4)])
    item = BenchmarkItem(name="arith", source="builtin", gold_kind="arith")
    bench = load_benchmark(item, limit=3, builtin_path=path)
    assert [p.id for p in bench.problems] == ["a0", "a1", "a2"] and bench.problems[0].meta == {"expr": 0}
    with pytest.raises(ValueError, match="test split"):
        load_benchmark(item)


def test_hub_source_goes_through_datasets_with_the_item_split(monkeypatch):
    import datasets

    calls = []

    def fake_load(name, config=None, split=None):
        calls.append((name, config, split))
        return [{"question": "2+2?", "answer": "so 4\n#### 4"}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    item = BenchmarkItem(name="gsm8k", source="hub", gold_kind="gsm8k", hub_name="openai/gsm8k",
                         hub_configs=["main"])
    bench = load_benchmark(item)
    assert calls == [("openai/gsm8k", "main", "test")]
    assert bench.source == "hub:openai/gsm8k" and bench.file_sha256 is None and bench.problems[0].gold == "4"
