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
        "problems": "70e1a77051c2f3ce", "base": "024f21b44785a784", "sample": "b7d999dff9c29754",
        "classify": "a6d010a6277528fc", "inject": "c1b871dce2324a3b", "locate": "c4673291429657f3",
        "correct": "2b61a2bbd2691f01", "smooth": "889d2c05c524aa49", "build": "0e86628d5ce49b7c",
        "evaluate.base": "f4178e84c06b4509", "train.clean": "41afea8fea50128e", "evaluate.clean": "9881ddf2ccfa55ed",
        "train.lemma": "77bf814c0dec8955", "evaluate.lemma": "01fa5b548507b22a", "train.sft": "eeb4535153557d85",
        "evaluate.sft": "db890019cb25047a", "report": "077a5b01e6a9f385",
    },
    PAPER: {  # benchmark items of source file, roles id and ood, formats jsonl and json; data.source=local
        "problems": "800201e54cf4f5e7", "base": "641e76d49f922cd5", "sample": "4c0ed0c2ee96286c",
        "classify": "b8b8ae1f8a9f9179", "inject": "6be27ef00f771bb8", "locate": "a156920f97e67abf",
        "correct": "cd6de4a1dd6f34ea", "smooth": "5fa58bb73b6d2123", "build": "001038e53ea42c08",
        "evaluate.base": "f7d723a9e152a369", "train.clean": "8ebed910e1351933", "evaluate.clean": "d8d9a689e3302e05",
        "train.lemma": "fa86e738b8dfac87", "evaluate.lemma": "f516624fbb166913", "train.sft": "43bd38149ae0e329",
        "evaluate.sft": "0b0eec3b569b0b04", "report": "63f5334fd4e7d0cb",
    },
    HUB: {  # data.source=hub, build.sources=[self]
        "problems": "15bad07b9c5818aa", "base": "681fb1f81df3f1eb", "sample": "4e44711ad75dac38",
        "classify": "48c93136d1d8769f", "inject": "57fec495b07ef544", "locate": "c9646c57824e94cf",
        "correct": "02abbaef5c428c67", "smooth": "9bab86355c13a124", "build": "d13d4a6a36b8cc0d",
        "evaluate.base": "3d6085799c8fb462", "train.clean": "da298bfc1a28a8d5", "evaluate.clean": "f33965b6017db21a",
        "train.lemma": "41bc325f75016ac1", "evaluate.lemma": "fed515d777e6130b", "train.sft": "1026a7655a2ca1e5",
        "evaluate.sft": "744bbf6e61ee7621", "report": "017fc15da0981197",
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
