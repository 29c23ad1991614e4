"""Config validation: typos and wrong types fail at compose time; cross-field problems are gathered into one error."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from lemma.config import LemmaConfigError, validate


def test_default_composes_and_validates(make_cfg):
    cfg = make_cfg()
    validate(cfg)
    assert cfg.data.kind == "relations" and cfg.teacher.backend == "symbolic" and cfg.model.name == "tiny"
    assert list(cfg.correction.strategies) == ["fix", "fresh"]
    assert list(cfg.arms) == ["base", "sft", "clean", "lemma"] and cfg.build.trajectory_share == 0.3
    assert cfg.benchmark.name == "relations" and cfg.data.num_test >= 1000 and cfg.data.num_dev > 0


def test_misspelt_key_names_the_key(make_cfg):
    with pytest.raises(ConfigCompositionException) as err:
        make_cfg("teacher.temprature=1")
    assert "temprature" in str(err.value.__cause__ or err.value)


def test_wrong_type_names_the_key(make_cfg):
    with pytest.raises(ConfigCompositionException) as err:
        make_cfg("teacher.temperature=hot")
    text = str(err.value.__cause__ or err.value)
    assert "temperature" in text and "hot" in text


def test_unknown_option_names_the_value(make_cfg):
    with pytest.raises(ConfigCompositionException) as err:
        make_cfg("correction=fix_onlyy")
    assert "fix_onlyy" in str(err.value)


def test_negative_and_zero_weights_are_gathered(make_cfg):
    zeroed = [f"errors.weights.{t}=0" for t in ("question_misinterpretation", "confusing_concept_error",
                                                "formula_confusion_error", "missing_step")]
    cfg = make_cfg("errors=paper", "errors.weights.calculation_error=-1", *zeroed, "correction.strategies=[]",
                   "correction.smooth=[]")
    with pytest.raises(LemmaConfigError) as err:
        validate(cfg)
    problems = err.value.problems
    assert any("errors.weights.calculation_error=-1" in p for p in problems)
    assert any("all zero" in p for p in problems)
    assert any("correction.strategies is empty" in p for p in problems)


def test_unknown_error_label(make_cfg):
    cfg = make_cfg("+errors.weights.not_a_type=1")
    with pytest.raises(LemmaConfigError, match="errors.weights.not_a_type: unknown error type"):
        validate(cfg)


def test_symbolic_teacher_refuses_real_data(make_cfg):
    cfg = make_cfg("data=gsm8k_math", "teacher=symbolic", "model=llama3_8b", "benchmark=gsm8k")
    with pytest.raises(LemmaConfigError, match="teacher=symbolic cannot serve data=gsm8k_math"):
        validate(cfg)


def test_unknown_stage_lists_valid_names(make_cfg):
    with pytest.raises(ConfigCompositionException) as err:  # stage is an enum field: refused when Hydra composes
        make_cfg("stage=trian")
    text = str(err.value.__cause__ or err.value)
    assert "Invalid value 'trian', expected one of [all, problems, base," in text and "full_key: stage" in text


def test_smoothing_a_strategy_not_produced(make_cfg):
    cfg = make_cfg("correction=fix_only", "correction.smooth=[fix,fresh]")
    with pytest.raises(LemmaConfigError, match="correction.smooth lists 'fresh'"):
        validate(cfg)


def test_real_data_needs_real_model_and_benchmark(make_cfg):
    cfg = make_cfg("data=gsm8k_math", "teacher=gpt4o")
    with pytest.raises(LemmaConfigError) as err:
        validate(cfg)
    text = str(err.value)
    assert "model=tiny is built from a built-in world" in text
    assert "benchmark=relations is a built-in world's test split" in text


def test_the_arith_world_still_composes_with_its_own_benchmark(make_cfg):
    validate(make_cfg("data=arith", "benchmark=arith"))
    cfg = make_cfg("data=arith")  # the relations test split with the arith world
    with pytest.raises(LemmaConfigError, match="benchmark.items.relations is the relations world's test split"):
        validate(cfg)
    with pytest.raises(LemmaConfigError, match="tokenizer=closed knows the words of data=relations only"):
        validate(make_cfg("data=arith", "benchmark=arith", "model.tiny.tokenizer=closed"))


def test_matched_arms_need_a_step_budget_and_fixed_slots(make_cfg):
    with pytest.raises(LemmaConfigError) as err:
        validate(make_cfg("train.max_steps=null", "train.group_by_length=true"))
    text = str(err.value)
    assert "needs train.max_steps" in text and "train.group_by_length=false" in text
    with pytest.raises(LemmaConfigError, match="build.trajectory_share=1.5 must be in"):
        validate(make_cfg("build.trajectory_share=1.5"))


def test_a_builtin_benchmark_may_read_the_dev_split_and_only_a_builtin_one(make_cfg):
    validate(make_cfg("benchmark=relations_dev"))
    with pytest.raises(LemmaConfigError, match=r"benchmark.items.gsm8k.split=dev picks a built-in world's split.*remove split"):
        validate(make_cfg("data=gsm8k_math", "teacher=gpt4o", "model=llama3_8b", "benchmark=gsm8k",
                          "benchmark.items.gsm8k.split=dev"))
