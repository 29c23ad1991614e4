"""Decontamination targets are config: `build.decontaminate_against`, composed by Hydra from conf/benchmark options.

Why: the files that decide which SFT rows are dropped must be in the build key (a changed copy must rebuild the SFT
set), must never follow `benchmark=` (choosing what to evaluate must not retrain), and the build stage must read them
through its keyed config view only. Checked here: (a) the default targets are exactly the file-sourced
single-benchmark options, (b) a target's sha256 moves the build key and `benchmark=` does not, (c) the build stage
drops a row sharing a 13-gram with a target, reading only its config, (d) a missing or changed target file is a
pre-flight error naming the key and the fix; and the overrides conf/build/decontaminate_against/all.yaml documents.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf, open_dict

from lemma import preflight
from lemma.artifacts import Artifact, ArtifactStore
from lemma.benchmarks import BenchmarkFileError, file_sha256
from lemma.config import REPO_ROOT, BenchmarkItem
from lemma.pipeline import StageContext, needs_of, node_key, node_names
from lemma.records import SFTExample
from lemma.stage_view import UnkeyedConfigRead
from lemma.stages.build import NGRAM, benchmark_questions, decontaminate

CONF = REPO_ROOT / "conf"
ALL = CONF / "build" / "decontaminate_against" / "all.yaml"
REAL = ("data=gsm8k_math", "teacher=gpt4o", "model=llama3_8b", "benchmark=gsm8k")
SHARED = "a baker puts exactly seven blue muffins in every one of the nine boxes on the long shelf this morning"


def _targets(cfg: DictConfig) -> dict[str, dict]:
    return {k: OmegaConf.to_container(v, resolve=True) for k, v in cfg.build.decontaminate_against["items"].items()}


def _keys(cfg: DictConfig) -> dict[str, str]:
    keys: dict[str, str] = {}
    for node in node_names(cfg):
        keys[node] = node_key(cfg, node, {p: keys[p] for p in needs_of(cfg, node)})[0]
    return keys


# ------------------------------------------------------------------------------------------------ (a) the targets
def test_default_targets_are_every_file_sourced_single_benchmark_option(make_cfg):
    """A new single-benchmark option that is not added to all.yaml (or a suite that is) fails here."""
    singles = {}
    for path in sorted((CONF / "benchmark").glob("*.yaml")):
        items = make_cfg(f"benchmark={path.stem}").benchmark["items"]
        (key, item), *rest = items.items()
        if not rest and str(item.source) == "file":
            singles[key] = OmegaConf.to_container(item, resolve=True)
    assert {"gsm8k", "math", "math500", "asdiv", "mawps", "mawps_qwen", "svamp", "deepmind_math", "college_math",
            "minerva_math", "olympiadbench"} <= set(singles)
    targets = _targets(make_cfg())
    assert targets == singles
    assert all(Path(t["path"]).is_file() and t["path"].startswith(str(REPO_ROOT / "data")) for t in targets.values())
    assert _targets(make_cfg(*REAL)) == singles  # the world and what is evaluated do not change them


def test_documented_overrides_compose_as_described(make_cfg):
    header = ALL.read_text()
    commands = {line.split(":")[0].strip("# ").strip(): shlex.split(line.split("python run.py", 1)[1].split("  (")[0])
                for line in header.splitlines() if "python run.py" in line}
    assert set(commands) == {"none at all", "another set", "drop one", "add one"}
    every = set(_targets(make_cfg()))
    assert _targets(make_cfg(*commands["none at all"])) == {}
    assert set(_targets(make_cfg(*commands["another set"]))) == {"gsm8k", "math"}
    assert set(_targets(make_cfg(*commands["drop one"]))) == every - {"math500"}
    added = [c.replace("<option>", "gsm8k") for c in commands["add one"]]
    assert set(_targets(make_cfg("build/decontaminate_against=none", *added))) == {"gsm8k"}
    assert set(_targets(make_cfg("benchmark@build.decontaminate_against=paper"))) == set(
        make_cfg("benchmark=paper").benchmark["items"])


# ------------------------------------------------------------------------------------------------- (b) the build key
def test_a_target_hash_moves_the_build_key_and_benchmark_does_not(make_cfg, tmp_path):
    for shape in ((), REAL):
        base = _keys(make_cfg(*shape))
        changed = _keys(make_cfg(*shape, f"build.decontaminate_against.items.svamp.sha256={'0' * 64}"))
        assert changed["build"] != base["build"], shape
        assert changed["problems"] == base["problems"] and changed["smooth"] == base["smooth"]
        other = _keys(make_cfg(*shape, "benchmark=paper", "benchmark.limit=5"))
        assert other["build"] == base["build"] and other["train.lemma"] == base["train.lemma"], shape
        assert other["evaluate.lemma"] != base["evaluate.lemma"]
        # where the files live is execution (pinned by sha256); the run seed is not the data's
        moved = _keys(make_cfg(*shape, f"paths.data={tmp_path}"))
        assert moved["build"] == base["build"], shape
    seeds = (make_cfg("seed=1", "data_seed=0"), make_cfg("data_seed=0"))
    slices = [node_key(cfg, "build", _keys(cfg))[1] for cfg in seeds]
    assert slices[0] == slices[1]  # the targets' own seed follows data_seed: the run seed is not in build's content


# ------------------------------------------------------------------------------------------ (c) the build stage
def _target_file(tmp_path: Path) -> Path:
    path = tmp_path / "mine.jsonl"
    rows = [{"question": f"Sam says {SHARED}. How many muffins are there?", "answer": "#### 63"},
            {"question": "What is 2 + 2?", "answer": "#### 4"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _ctx(cfg: DictConfig, tmp_path: Path) -> StageContext:
    (tmp_path / "problems").mkdir(exist_ok=True)  # no test split: file data
    return StageContext(cfg=cfg, node="build", arm=None, inputs={"problems": Artifact("problems", "k", tmp_path /
                        "problems")}, out=tmp_path / "out", store=ArtifactStore(tmp_path / "store"), key="k",
                        services=None)


def _row(i: int, question: str) -> SFTExample:
    return SFTExample(id=f"r{i}", problem_id=f"p{i}", dataset="gsm8k", question=question, response="...",
                      source="self")


def test_build_drops_rows_sharing_a_13_gram_with_a_target_reading_only_its_config(make_cfg, tmp_path):
    path = _target_file(tmp_path)
    cfg = make_cfg(*REAL, "build/decontaminate_against=none")
    with open_dict(cfg):  # a target no conf/ option holds: the stage reads only build.decontaminate_against
        cfg.build.decontaminate_against["items"]["mine"] = BenchmarkItem(name="mine", path=str(path),
                                                                         gold_kind="gsm8k", sha256=file_sha256(path))
    ctx = _ctx(cfg, tmp_path)
    questions = benchmark_questions(ctx)  # through the build stage's keyed view: no read outside its key
    assert len(questions) == 2
    rows = [_row(0, f"Yesterday {SHARED}, and then two more came."), _row(1, "A baker puts seven muffins in a box."),
            _row(2, "What is 2 + 3?")]
    kept, dropped = decontaminate(rows, questions, NGRAM)
    assert [r.id for r in kept] == ["r1", "r2"] and dropped == 1
    with pytest.raises(UnkeyedConfigRead):  # what is evaluated is out of the build stage's reach
        _ = ctx.cfg.benchmark["items"]["gsm8k"].sha256


def test_a_world_never_reads_the_targets_and_an_unreadable_target_is_an_error(make_cfg, tmp_path):
    gone = f"build.decontaminate_against.items.svamp.path={tmp_path / 'gone.jsonl'}"
    assert benchmark_questions(_ctx(make_cfg(gone), tmp_path)) == []  # data=relations: its test split only
    with pytest.raises(BenchmarkFileError, match=r"build\.decontaminate_against\.items\.svamp: .* does not exist"):
        benchmark_questions(_ctx(make_cfg(*REAL, gone), tmp_path))


# ----------------------------------------------------------------------------------------------- (d) the pre-flight
def test_a_missing_or_changed_target_is_a_preflight_error_naming_the_key_and_the_fix(make_cfg, tmp_path):
    gone = f"build.decontaminate_against.items.svamp.path={tmp_path / 'gone.jsonl'}"
    (line,) = preflight.data_problems(make_cfg(*REAL, gone), {"build"})
    assert line.startswith("decontamination (build.decontaminate=true) reads every target of "
                           "build.decontaminate_against: build.decontaminate_against.items.svamp: ")
    assert "does not exist" in line and "build.decontaminate_against.items.svamp.path" in line
    assert "'~build.decontaminate_against.items.svamp'" in line and "build/decontaminate_against=none" in line
    assert "benchmark.items" not in line
    wrong = "build.decontaminate_against.items.gsm8k.sha256=" + "0" * 64
    (line,) = preflight.data_problems(make_cfg(*REAL, wrong), {"build"})
    actual = file_sha256(REPO_ROOT / "data" / "benchmarks" / "gsm8k" / "test.jsonl")
    assert f"set build.decontaminate_against.items.gsm8k.sha256={actual}" in line
    # the fixes it names pass; a built-in world and a run without build never look
    assert preflight.data_problems(make_cfg(*REAL, gone, "~build.decontaminate_against.items.svamp"), {"build"}) == []
    assert preflight.data_problems(make_cfg(*REAL, "build/decontaminate_against=none"), {"build"}) == []
    assert preflight.data_problems(make_cfg(*REAL, gone, "build.decontaminate=false"), {"build"}) == []
    assert preflight.data_problems(make_cfg(gone), {"build"}) == []
    assert preflight.data_problems(make_cfg(*REAL, gone), {"evaluate"}) == []


def test_a_builtin_split_is_not_a_target(make_cfg):
    cfg = make_cfg(*REAL, "build/decontaminate_against=none", "+benchmark@build.decontaminate_against=[relations]")
    (line,) = preflight.data_problems(cfg, {"build"})
    assert "build.decontaminate_against.items.relations is a built-in world's test split" in line
    assert re.search(r"'~build\.decontaminate_against\.items\.relations'", line)
