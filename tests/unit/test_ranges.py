"""Every numeric config field has a declared range, and out-of-range values fail before any work, named."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from lemma.config import LemmaConfig, LemmaConfigError, validate
from lemma.ranges import RANGES, Rule, at_least, between, positive, range_problems

CHECKED_ELSEWHERE = {  # numeric fields whose check lives next to related rules, with why
    "errors.weights": "a dict of weights; lemma.config_checks._errors_problems checks each entry",
    "build.trajectory_share": "lemma.config_checks._world_problems checks it with the other matched-arms rules",
    "data.trajectory_share": "the default of build.trajectory_share, checked there once interpolated",
}
# build.decontaminate_against is a benchmark config composed from conf/benchmark options: decontamination reads only
# its items' files and question fields (pinned by sha256), never the numeric evaluation settings beside them
NEVER_READ = "build.decontaminate_against."


def numeric_fields(schema: type = LemmaConfig, prefix: str = "") -> set[str]:
    """Dotted keys of every int/float field (Optional or not) of the schemas; dict-of-dataclass entries as '*'."""
    found = set()
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        key, hint = f"{prefix}{f.name}", hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        base = args[0] if typing.get_origin(hint) is typing.Union and len(args) == 1 else hint
        if base in (int, float):
            found.add(key)
        elif dataclasses.is_dataclass(base):
            found |= numeric_fields(base, f"{key}.")
        elif typing.get_origin(base) is dict:
            value = typing.get_args(base)[1]
            if dataclasses.is_dataclass(value):
                found |= numeric_fields(value, f"{key}.*.")
            elif value in (int, float):
                found.add(key)
    return found


def test_every_numeric_field_has_a_range():
    missing = {k for k in numeric_fields() - set(RANGES) - set(CHECKED_ELSEWHERE)
               if not k.startswith(NEVER_READ)}
    assert not missing, f"add a line to lemma.ranges.RANGES for: {sorted(missing)}"


def test_every_range_names_a_real_field():
    assert not set(RANGES) - numeric_fields(), "a RANGES key names no numeric schema field (renamed?)"


ISSUE_CASES = {  # the nine overrides the issue saw accepted, and the start of the line that must name each
    "data.limit=-5": "data.limit=-5 must be at least 1",
    "sample.temperature=-1": "sample.temperature=-1.0 must be in [0, 2]",
    "teacher.max_cost_usd=-3": "teacher.max_cost_usd=-3.0 must be at least 0",
    "teacher.max_concurrency=0": "teacher.max_concurrency=0 must be at least 1",
    "train.global_batch=0": "train.global_batch=0 must be at least 1",
    "train.epochs=-1": "train.epochs=-1.0 must be > 0",
    "benchmark.limit=-1": "benchmark.limit=-1 must be at least 1",
    "benchmark.n_samples=0": "benchmark.n_samples=0 must be at least 1",
    "build.max_examples=-10": "build.max_examples=-10 must be at least 1",
}


@pytest.mark.parametrize("override", sorted(ISSUE_CASES))
def test_the_issue_values_are_rejected_by_name(make_cfg, override):
    with pytest.raises(LemmaConfigError) as err:
        validate(make_cfg(override))
    assert any(p.startswith(ISSUE_CASES[override]) for p in err.value.problems), err.value.problems


def test_all_problems_arrive_together(make_cfg):
    cfg = make_cfg(*ISSUE_CASES)
    with pytest.raises(LemmaConfigError) as err:
        validate(cfg)
    for expected in ISSUE_CASES.values():
        assert any(p.startswith(expected) for p in err.value.problems), expected


def test_limit_on_a_built_in_world_is_rejected_not_ignored(make_cfg):
    for world in ("relations", "arith"):
        with pytest.raises(LemmaConfigError, match=f"data.limit=5 has no meaning for data={world}.*data.num_train"):
            validate(make_cfg(f"data={world}", "data.limit=5"))


def test_null_means_off_and_wildcards_reach_every_item(make_cfg):
    assert range_problems(make_cfg("teacher.max_cost_usd=null", "benchmark.limit=null")) == []
    cfg = make_cfg("benchmark=paper", "benchmark.items.svamp.shots=9", "benchmark.items.gsm8k.max_new_tokens=0")
    assert sorted(range_problems(cfg)) == [
        "benchmark.items.gsm8k.max_new_tokens=0 must be at least 1",
        "benchmark.items.svamp.shots=9 must be in [0, 4] (the GSM8K demo set holds 4)"]


def test_rule_bounds_and_wording():
    assert positive().allows(1e-9) and not positive().allows(0)
    assert between(0, 1, high_open=True).describe() == "must be in [0, 1)"
    assert not between(0, 1, high_open=True).allows(1) and between(0, 1).allows(1)
    assert at_least(2, "why").describe() == "must be at least 2 (why)"
    assert Rule(low=0, low_open=True).describe() == "must be > 0"
