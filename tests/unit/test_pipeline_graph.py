"""The stage graph: order, arms, stage selection, forced rebuilds and data=lemma_release skipping synthesis."""

from __future__ import annotations

from lemma.pipeline import descendants, node_names, select


def test_order_and_arms(make_cfg):
    order = node_names(make_cfg())
    for before, after in [("problems", "base"), ("sample", "classify"), ("classify", "inject"), ("inject", "locate"),
                          ("locate", "correct"), ("correct", "smooth"), ("smooth", "build"), ("build", "train.lemma"),
                          ("train.lemma", "evaluate.lemma"), ("train.sft", "evaluate.sft"), ("evaluate.base", "report")]:
        assert order.index(before) < order.index(after), (before, after)
    assert order[-1] == "report"
    assert {"train.sft", "train.lemma", "evaluate.base", "evaluate.sft", "evaluate.lemma"} <= set(order)


def test_select_stage_takes_ancestors_only(make_cfg):
    assert select(make_cfg(), "inject") == ["problems", "base", "sample", "classify", "inject"]
    train = select(make_cfg(), "train")
    assert "train.sft" in train and "train.lemma" in train and not any(n.startswith("evaluate") for n in train)


def test_arms_subset(make_cfg):
    order = node_names(make_cfg("arms=[lemma]"))
    assert "train.sft" not in order and "evaluate.base" not in order and "evaluate.lemma" in order


def test_force_reaches_downstream(make_cfg):
    cfg = make_cfg()
    forced = descendants(cfg, {"inject"})
    assert {"inject", "locate", "correct", "build", "train.lemma", "report"} <= forced
    assert "train.sft" not in forced and "classify" not in forced


def test_release_data_skips_synthesis(make_cfg, tmp_path):
    release = tmp_path / "lemma.jsonl"
    release.write_text('{"instruction": "q", "input": "", "output": "a"}\n')
    cfg = make_cfg("data=lemma_release", f"data.release_path={release}", "model=llama3_8b", "benchmark=gsm8k")
    order = node_names(cfg)
    assert not {"sample", "classify", "inject", "locate", "correct", "smooth"} & set(order)
    assert "build" in order and "train.lemma" in order
