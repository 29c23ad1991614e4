"""Hub sources, offline: each `source: hub` maps rows shaped like the hub's onto the same problems as the shipped file.

No network: `datasets.load_dataset` is replaced by a fake that serves the shipped file's own rows in the hub's layout
(MATH split into its seven subject configs, SVAMP into train and test, no Qwen `idx` column). What is tested is ours:
the dataset names, configs and splits each option asks for, the concatenation, and the row mapping onto questions
and golds.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from lemma.benchmarks import load_benchmark
from lemma.config import DATA_ROOT, MATH_SUBJECTS, DataConfig
from lemma.data import load_train_problems
from lemma.hub import HubUnavailable

SUBJECT_OF_TYPE = {"Algebra": "algebra", "Counting & Probability": "counting_and_probability", "Geometry": "geometry",
                   "Intermediate Algebra": "intermediate_algebra", "Number Theory": "number_theory",
                   "Prealgebra": "prealgebra", "Precalculus": "precalculus"}
# option -> (hub dataset, configs, split) as the hub publishes them (data/SOURCES.md)
EXPECTED = {
    "gsm8k": ("openai/gsm8k", ["main"], "test"),
    "math": ("EleutherAI/hendrycks_math", list(MATH_SUBJECTS), "test"),
    "math500": ("HuggingFaceH4/MATH-500", [], "test"),
    "asdiv": ("EleutherAI/asdiv", ["asdiv"], "validation"),
    "svamp": ("ChilleD/SVAMP", [], "train+test"),
    "minerva_math": ("svc-huggingface/minerva-math", [], "test"),
    "college_math": ("qq8933/College_Math_Test", [], "test"),
    "olympiadbench": ("Hothan/OlympiadBench", ["OE_TO_maths_en_COMP"], "train"),
}
FILE_ONLY = {"mawps", "mawps_qwen", "deepmind_math"}


def _rows(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else [json.loads(x) for x in text.splitlines() if x.strip()]


def _hub_layout(rows: list[dict[str, Any]], option: str) -> dict[tuple[str | None, str], list[dict[str, Any]]]:
    """(config, split) -> rows, as the hub holds this option's data (the Qwen `idx` column is not on the hub)."""
    plain = [{k: v for k, v in r.items() if k != "idx"} for r in rows]
    name, configs, split = EXPECTED[option]
    if option == "math":
        return {(SUBJECT_OF_TYPE[t], split): [r for r in plain if r["type"] == t] for t in SUBJECT_OF_TYPE}
    if option == "svamp":
        return {(None, "train"): plain[:700], (None, "test"): plain[700:]}
    return {(configs[0] if configs else None, split): plain}


class FakeHub:
    """`datasets.load_dataset` over a fixed layout; "a+b" splits concatenate, as the datasets split syntax does."""

    def __init__(self, name: str, layout: dict[tuple[str | None, str], list[dict[str, Any]]]) -> None:
        self.name, self.layout, self.calls = name, layout, []

    def __call__(self, name: str, config: str | None = None, split: str | None = None) -> list[dict[str, Any]]:
        self.calls.append((name, config, split))
        if name != self.name:
            raise FileNotFoundError(f"Dataset '{name}' doesn't exist on the Hub")
        rows = []
        for part in str(split).split("+"):
            if (config, part) not in self.layout:
                raise ValueError(f"Unknown split {part!r} or config {config!r}")
            rows += self.layout[(config, part)]
        return rows


def _item(make_cfg, option: str):
    return make_cfg(f"benchmark={option}").benchmark["items"][option]


def test_every_option_is_hub_backed_or_declared_file_only(make_cfg):
    """Every single-benchmark option that reads a file (not a built-in world's test split, not a suite): the
    decontamination targets (tests/unit/test_decontamination_config.py checks they are exactly those options)."""
    singles = set(make_cfg().build.decontaminate_against["items"])
    assert singles == set(EXPECTED) | FILE_ONLY
    for option in singles:
        item = _item(make_cfg, option)
        expected = EXPECTED.get(option, (None, [], "test"))
        assert (item.hub_name, list(item.hub_configs), item.hub_split) == expected, option


@pytest.mark.parametrize("option", sorted(EXPECTED))
def test_hub_rows_give_the_shipped_problems(make_cfg, monkeypatch, option):
    import datasets

    file_item = _item(make_cfg, option)
    from_file = load_benchmark(file_item).problems
    name, configs, split = EXPECTED[option]
    fake = FakeHub(name, _hub_layout(_rows(Path(file_item.path)), option))
    monkeypatch.setattr(datasets, "load_dataset", fake)
    hub_item = _item(make_cfg, option)
    hub_item.source = "hub"
    bench = load_benchmark(hub_item)
    assert fake.calls == [(name, c, split) for c in (configs or [None])]
    assert bench.source == f"hub:{name}" and bench.file_sha256 is None
    pairs = [(p.question, p.gold) for p in bench.problems]
    if option == "math":  # grouped by subject on the hub: the same problems in another order
        assert Counter(pairs) == Counter((p.question, p.gold) for p in from_file)
    else:
        assert pairs == [(p.question, p.gold) for p in from_file]


def test_hub_math_train_concatenates_the_seven_subjects(monkeypatch):
    import datasets

    local = OmegaConf.merge(OmegaConf.structured(DataConfig),
                            {"kind": "files", "datasets": ["gsm8k", "math"], "path": str(DATA_ROOT / "train")})
    from_files = load_train_problems(local)
    math_rows = _rows(DATA_ROOT / "train" / "math" / "train.jsonl")
    layout = {(SUBJECT_OF_TYPE[t], "train"): [r for r in math_rows if r["type"] == t] for t in SUBJECT_OF_TYPE}
    layout[("main", "train")] = _rows(DATA_ROOT / "train" / "gsm8k" / "train.jsonl")
    calls = []

    def fake(name, config=None, split=None):
        calls.append((name, config, split))
        assert name == {"main": "openai/gsm8k"}.get(config, "EleutherAI/hendrycks_math")
        return layout[(config, split)]

    monkeypatch.setattr(datasets, "load_dataset", fake)
    hub = OmegaConf.merge(local, {"source": "hub"})
    from_hub = load_train_problems(hub)
    assert calls == [("openai/gsm8k", "main", "train")] + [("EleutherAI/hendrycks_math", s, "train")
                                                            for s in MATH_SUBJECTS]
    assert len(from_hub) == len(from_files) == 7473 + 7500

    def content(problems):
        return Counter((p.dataset, p.question, p.reference, p.gold) for p in problems)

    assert content(from_hub) == content(from_files)


def test_hub_failure_explains_the_shipped_file(make_cfg, monkeypatch):
    import datasets

    def offline(name, config=None, split=None):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    item = _item(make_cfg, "gsm8k")
    item.source = "hub"
    with pytest.raises(HubUnavailable) as err:
        load_benchmark(item)
    text = str(err.value)
    assert "benchmark.items.gsm8k" in text and "openai/gsm8k" in text and "source=file" in text


def test_renamed_hub_column_is_named(make_cfg, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda name, config=None, split=None: [{"q": "1+1?", "a": "2"}])
    item = _item(make_cfg, "math500")
    item.source = "hub"
    with pytest.raises(HubUnavailable, match=r"no field\(s\) problem, answer \(they have a, q\)"):
        load_benchmark(item)


def test_file_only_option_refuses_hub(make_cfg):
    item = _item(make_cfg, "deepmind_math")
    item.source = "hub"
    with pytest.raises(Exception, match="no hub dataset holds this benchmark's copy"):
        load_benchmark(item)
