"""Closed choices are enums of the schema: Hydra refuses any other value when it composes, naming the key and the
allowed values, and an enum field keys an artifact exactly as the plain string it replaced did.

The artifact keys below were computed before the closed choices became enums (the run's stage keys must not move:
a sweep running from this tree reuses its cached artifacts); a change to a stage's keyed content or version changes
them on purpose, and then this table is updated with the new keys.
"""

from __future__ import annotations

import inspect
import json
from enum import Enum

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from lemma import config_data, config_models, stage_names
from lemma.artifacts import content_slice
from lemma.arms import ARMS
from lemma.config import Arm, StageName, StageTarget
from lemma.pipeline import STAGE_NAMES, needs_of, node_key, node_names

PAPER = ("data=gsm8k_math", "teacher=gpt4o", "model=llama3_8b", "benchmark=paper", "train=zero3_offload")
HUB = ("data=gsm8k_math", "data.source=hub", "teacher=gpt4o", "model=llama3_8b", "benchmark=paper", "logger=wandb",
       "correction=fresh_only", "build=self_only")
# Every stage key of three configurations, pinned: a refactor must not move a cached artifact. A key changes only on
# purpose (the LLM-teacher rows of correct and below changed once, when the strategy prompts moved to
# lemma/prompts/fix and lemma/prompts/fresh, the names of lemma.strategies.Strategy; train.sft and train.clean
# once, when build.lemma_budget became a key of train.lemma alone).
STAGE_KEYS: dict[tuple[str, ...], dict[str, str]] = {
    (): {
        "problems": "70e1a77051c2f3ce", "base": "4046f6644e67a746", "sample": "36d524aa76ef12a7",
        "classify": "e529c3b467919555", "inject": "8e249e4b3f14cee9", "locate": "33550f1c70c3c0b3",
        "correct": "b37eeeda7813beaf", "smooth": "5d60f5ad1f21fd93", "build": "4f112dcf941ad6ef",
        "evaluate.base": "0690f91985424c48", "train.clean": "22b12c82967e8b21", "evaluate.clean": "af64a3ff87ef6658",
        "train.lemma": "2da61e794fed72bf", "evaluate.lemma": "4e35a14ceace6f86", "train.sft": "bc943237c977bc1a",
        "evaluate.sft": "0bdde888195301dc", "report": "eb0fc3d609e3b579",
    },
    PAPER: {  # benchmark items of source file, roles id and ood, formats jsonl and json; data.source=local
        "problems": "800201e54cf4f5e7", "base": "46ed51a0b85e925b", "sample": "fc853886c80f6e83",
        "classify": "d5153f6ffc0b122f", "inject": "e281c8c168d3ce80", "locate": "d713e799d97f3445",
        "correct": "f7b6d7f13fbd8d31", "smooth": "11198051563838b6", "build": "95443e6d97793888",
        "evaluate.base": "9b9d13d67b001ab4", "train.clean": "eb68f526f1a5b5c0", "evaluate.clean": "e901dc4551597613",
        "train.lemma": "52b632e36879e0a3", "evaluate.lemma": "1d80fe3d7cea608c", "train.sft": "161288502df7b751",
        "evaluate.sft": "a7f848b86ddb91f7", "report": "9e6719dfaa3fde11",
    },
    HUB: {  # data.source=hub, build.sources=[self]
        "problems": "15bad07b9c5818aa", "base": "77c0a9a27ad620be", "sample": "01f9c9e0409c1db0",
        "classify": "713d8aea3661a65d", "inject": "971077722d3a99d2", "locate": "12aec3fe6bc25073",
        "correct": "9dd42980103a84f5", "smooth": "60b1d74257982890", "build": "d4eb40d1cde7fe8a",
        "evaluate.base": "aef7036f09b4fc34", "train.clean": "6fe6a9e3dcdd3c07", "evaluate.clean": "0eeef3ba30fb60d1",
        "train.lemma": "ac85248a5f947ea0", "evaluate.lemma": "e5703851ce38da19", "train.sft": "121a8b2b668e450d",
        "evaluate.sft": "b503ae14a57ecc36", "report": "6bea5c7a90199846",
    },
}


@pytest.mark.parametrize("overrides", list(STAGE_KEYS), ids=["default", "paper", "hub"])
def test_every_stage_key_is_pinned(make_cfg, overrides):
    cfg = make_cfg(*overrides)
    keys: dict[str, str] = {}
    for node in node_names(cfg):
        keys[node] = node_key(cfg, node, {p: keys[p] for p in needs_of(cfg, node)})[0]
    assert keys == STAGE_KEYS[overrides]


# (overrides, the enum field's path, its enum, the string the YAML writes)
ENUM_FIELDS = [
    ((), "stage", StageTarget, "all"),
    (("stage=train",), "stage", StageTarget, "train"),
    (("force=[inject,build]",), "force", StageName, ["inject", "build"]),
    ((), "arms", Arm, ["base", "sft", "clean", "lemma"]),
    ((), "build.sources", config_data.BuildSource, ["self", "injected"]),
    (("build=matched",), "build.match_size_to", config_data.BuildSource, ["self"]),
    ((), "data.source", config_data.DataSource, "local"),
    ((), "train.backend", config_models.TrainBackend, "torch"),
    (("train=zero2",), "train.backend", config_models.TrainBackend, "deepspeed"),
    ((), "logger.kind", config_models.LoggerKind, "none"),
    (("logger=wandb",), "logger.kind", config_models.LoggerKind, "wandb"),
    ((), "benchmark.items.relations.source", config_models.BenchmarkSource, "builtin"),
    ((), "benchmark.items.relations.role", config_models.BenchmarkRole, "id"),
    (("benchmark=mawps",), "benchmark.items.mawps.role", config_models.BenchmarkRole, "ood"),
    (("benchmark=mawps",), "benchmark.items.mawps.source", config_models.BenchmarkSource, "file"),
    (("benchmark=mawps",), "benchmark.items.mawps.format", config_models.BenchmarkFormat, "json"),
]


@pytest.mark.parametrize("overrides,path,enum,plain", ENUM_FIELDS, ids=[f"{f[1]}={f[3]}" for f in ENUM_FIELDS])
def test_an_enum_field_keys_and_serialises_as_its_yaml_string(make_cfg, overrides, path, enum, plain):
    cfg = make_cfg(*overrides)
    value = OmegaConf.select(cfg, path)
    members = list(value) if isinstance(plain, list) else [value]
    assert all(type(m) is enum for m in members), f"{path} is not checked as a {enum.__name__}"
    # node_key hashes json.dumps(content_slice(...)); the tracker and the training job use enum_to_str
    assert json.dumps(content_slice(value)) == json.dumps(plain)
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    for part in path.split("."):
        container = container[part]
    assert container == plain and value == plain


REFUSED = [
    (("stage=trian",), "stage", "'trian'", "all, problems, base, sample, classify, inject, locate, correct, smooth, "
                                           "build, train, evaluate, report"),
    (("force=[trian]",), "force[0]", "'trian'", ", ".join(STAGE_NAMES)),
    (("arms=[base,sfft]",), "arms[1]", "'sfft'", "base, sft, clean, lemma"),
    (("build.sources=[self,injectd]",), "build.sources[1]", "'injectd'", "self, injected"),
    (("build.match_size_to=[own]",), "build.match_size_to[0]", "'own'", "self, injected"),
    (("data.source=web",), "data.source", "'web'", "local, hub"),
    (("train.backend=ddp",), "train.backend", "'ddp'", "torch, deepspeed"),
    (("logger.kind=tensorboard",), "logger.kind", "'tensorboard'", "none, wandb"),
    (("benchmark=svamp", "benchmark.items.svamp.source=web"), "benchmark.items.svamp.source", "'web'",
     "builtin, file, hub"),
    (("benchmark.items.relations.role=odd",), "benchmark.items.relations.role", "'odd'", "id, ood"),
    (("benchmark=svamp", "benchmark.items.svamp.format=csv"), "benchmark.items.svamp.format", "'csv'", "jsonl, json"),
    (("correction.strategies=[fix,fresh,redo]",), "correction.strategies[2]", "'redo'", "fix, fresh"),
]


@pytest.mark.parametrize("overrides,key,value,allowed", REFUSED, ids=[r[1] for r in REFUSED])
def test_a_value_outside_a_closed_choice_fails_at_compose_naming_key_and_choices(make_cfg, overrides, key, value,
                                                                                 allowed):
    with pytest.raises(ConfigCompositionException) as err:
        make_cfg(*overrides)
    text = str(err.value.__cause__ or err.value)
    assert f"Invalid value {value}, expected one of [{allowed}]" in text and f"full_key: {key}\n" in f"{text}\n", text


def test_names_derive_from_the_enums():
    assert STAGE_NAMES == tuple(StageName) and ARMS == tuple(Arm)
    assert [t.value for t in StageTarget] == ["all", *STAGE_NAMES]


def _config_enums() -> list[type[Enum]]:
    return [obj for module in (config_data, config_models, stage_names) for _, obj in inspect.getmembers(module)
            if inspect.isclass(obj) and issubclass(obj, Enum) and obj is not Enum and obj.__module__ == module.__name__]


def test_every_member_name_is_its_value():
    """A StrEnum member hashes as its name and OmegaConf's enum_to_str writes the name: with name == value a member
    is found in a set or dict of plain strings (`split_node(n)[0] in set(cfg.force)`) and serialises as the YAML
    string."""
    enums = _config_enums()
    assert {"StageName", "StageTarget", "Arm", "BuildSource", "DataSource", "TrainBackend", "LoggerKind",
            "BenchmarkSource", "BenchmarkRole", "BenchmarkFormat"} <= {e.__name__ for e in enums}
    for enum in enums:
        for member in enum:
            assert member.name == member.value and hash(member) == hash(member.value), (enum.__name__, member)
