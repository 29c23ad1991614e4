"""A stage sees only what it keys: keyed fields move its key, execution fields do not, and its code reads nothing else.

A node's key hashes its stage's `keys=` and its parents' keys (lemma.pipeline.node_key); a read of any other config
field is a stale cache hit waiting to happen. Checked three ways for every stage of the registry: (i) changing each
keyed field changes the key of every node of the stage, (ii) changing an execution field changes no key and stays
readable, (iii) a static scan of the stage's module finds no `cfg.<path>` read (or write) outside what the node's key
covers, and the runtime view (lemma.stage_view) refuses such reads with the stage, the path and the fix.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib
import inspect
import pkgutil
from enum import Enum
from functools import cache
from typing import Any, NamedTuple

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, ListConfig, OmegaConf, ReadonlyConfigError, ValidationError

import lemma.stages
from lemma.config import REPO_ROOT
from lemma.pipeline import STAGE_NAMES, ArtifactStore, Services, StageContext, keyed_paths, load_stage, needs_of, \
    node_key, node_names, split_node
from lemma.stage_view import EXECUTION_ROOTS, ReadOnlyStageConfig, StageConfig, UnkeyedConfigRead, stage_view

KNOWN_STAGES = ("problems", "base", "sample", "classify", "inject", "locate", "correct", "smooth", "build", "train",
                "evaluate", "report")


def registry() -> list[str]:
    """Every module of lemma.stages that declares a STAGE, as the pipeline loads it (load_stage)."""
    names = [i.name for i in pkgutil.iter_modules(lemma.stages.__path__)
             if hasattr(importlib.import_module(f"lemma.stages.{i.name}"), "STAGE")]
    assert all(load_stage(name).name == name for name in names)
    return names


STAGES = registry()


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DictConfig]:
    """The default run and data=lemma_release (build's only parent is `problems` there): two graph shapes."""
    root = tmp_path_factory.mktemp("stage-keys")
    (root / "lemma.jsonl").write_text('{"instruction": "q", "input": "", "output": "a"}\n')
    release = ["data=lemma_release", f"data.release_path={root / 'lemma.jsonl'}", "model=llama3_8b", "benchmark=gsm8k"]
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return {shape: compose(config_name="config", overrides=[f"paths.root={root}", *extra])
                for shape, extra in (("default", []), ("release", release))}


def all_keys(cfg: DictConfig) -> dict[str, str]:
    keys: dict[str, str] = {}
    for node in node_names(cfg):
        keys[node] = node_key(cfg, node, {p: keys[p] for p in needs_of(cfg, node)})[0]
    return keys


def view_of(cfg: DictConfig, node: str) -> StageConfig:
    """The config as StageContext hands it to `node`."""
    return stage_view(cfg, split_node(node)[0], keyed_paths(cfg, node))


def nodes_of(cfg: DictConfig, stage: str) -> list[str]:
    return [n for n in node_names(cfg) if split_node(n)[0] == stage]


def test_registry_is_every_known_stage(shapes):
    assert STAGES, "no stage found in lemma.stages: the parametrized tests below would pass vacuously"
    assert sorted(STAGES) == sorted(KNOWN_STAGES) and tuple(STAGE_NAMES) == KNOWN_STAGES
    assert {split_node(n)[0] for n in node_names(shapes["default"])} == set(KNOWN_STAGES)


# ------------------------------------------------------------------------------------------ (i) keyed fields move it
def _bumped(value: Any) -> Any:
    if isinstance(value, (bool, Enum)):
        return not value if isinstance(value, bool) else next(m for m in type(value) if m != value)
    if isinstance(value, (int, float)):
        return value + (1 if isinstance(value, int) else 0.5)
    return list(value)[:-1] if isinstance(value, (list, ListConfig)) else f"{value}_changed"


def _content_leaf(node: DictConfig, path: str) -> str | None:
    """The first (sorted) bool/int/float content field below a keyed group: the one the test changes."""
    skip = getattr(OmegaConf.get_type(node), "EXECUTION_FIELDS", frozenset())
    for key in sorted(node):
        value = node[key]
        if key in skip:
            continue
        if isinstance(value, DictConfig) and (leaf := _content_leaf(value, f"{path}.{key}")):
            return leaf
        if isinstance(value, (bool, int, float)) and not isinstance(value, Enum):
            return f"{path}.{key}"
    return None


def changed(cfg: DictConfig, path: str) -> tuple[DictConfig, str]:
    new = copy.deepcopy(cfg)
    node = OmegaConf.select(new, path)
    leaf = _content_leaf(node, path) if isinstance(node, DictConfig) else path
    assert leaf, f"{path} has no scalar content field to change"
    value = copy.deepcopy(OmegaConf.select(new, leaf))  # a list node is changed in place
    if leaf == "model.prompt_format":
        OmegaConf.update(new, leaf, "alt_format", merge=False)
    elif value is None:  # an Optional field: the first value its type takes
        for candidate in (0.5, 1, "changed"):
            with contextlib.suppress(ValidationError):
                OmegaConf.update(new, leaf, candidate, merge=False)
                break
    else:
        OmegaConf.update(new, leaf, _bumped(value), merge=False)
    assert OmegaConf.select(new, leaf) != value, leaf
    return new, leaf


@pytest.mark.parametrize("stage", STAGES)
def test_each_keyed_field_changes_the_key(stage, shapes, monkeypatch):
    from lemma import prompt_format

    monkeypatch.setitem(prompt_format.FORMATS, "alt_format", prompt_format.FORMATS["cot_meta_math"])
    spec = load_stage(stage)
    assert spec.keys, f"{stage} keys nothing"
    for shape, cfg in shapes.items():
        before = all_keys(cfg)
        for path in spec.keys:
            after_cfg, leaf = changed(cfg, path)
            after = all_keys(after_cfg)
            common = [n for n in nodes_of(cfg, stage) if n in after]
            assert common or shape == "release", (stage, path)
            for node in common:
                assert after[node] != before[node], f"{shape}: changing {leaf} (keyed as {path}) kept {node}'s key"


def test_an_arm_key_moves_only_its_arms_node(shapes):
    cfg = shapes["default"]
    before = all_keys(cfg)
    after_cfg, _ = changed(cfg, "build.lemma_budget")
    after = all_keys(after_cfg)
    assert load_stage("train").arm_keys == {"lemma": ("build.lemma_budget",)}
    assert after["train.lemma"] != before["train.lemma"] and after["evaluate.lemma"] != before["evaluate.lemma"]
    # sft does not move (clean does, through build, which keys the whole build group: a 2-second rebuild)
    assert all(after[n] == before[n] for n in ("problems", "base", "train.sft", "evaluate.sft"))
    assert "build.lemma_budget" in keyed_paths(cfg, "train.lemma")
    assert "build.lemma_budget" not in keyed_paths(cfg, "train.sft")


# ----------------------------------------------------------------------------------- (ii) execution fields do not
def execution_changes(cfg: DictConfig) -> list[tuple[str, Any]]:
    """Every scalar execution field of the default config (schema EXECUTION_FIELDS and EXECUTION_ROOTS groups)."""
    out: list[tuple[str, Any]] = [("paths.root", "/elsewhere"), ("stage", "train"), ("force", ["sample"])]

    def walk(node: DictConfig, path: str, all_execution: bool) -> None:
        execution = getattr(OmegaConf.get_type(node), "EXECUTION_FIELDS", frozenset())
        for key in node:
            value = OmegaConf.select(node, key)
            sub = f"{path}{key}"
            if isinstance(value, DictConfig):
                walk(value, sub + ".", all_execution or key in execution)
            elif (all_execution or key in execution) and value is not None and sub != "paths.root":
                out.append((sub, _bumped(value)))

    for key in (k for k in cfg if isinstance(cfg[k], DictConfig)):
        walk(cfg[key], f"{key}.", key in EXECUTION_ROOTS)
    return out


@pytest.fixture(scope="module")
def execution_keys(shapes) -> dict[str, dict[str, str]]:
    """Every node's key after each execution change, by the changed path."""
    result = {}
    for path, value in execution_changes(shapes["default"]):
        new = copy.deepcopy(shapes["default"])
        OmegaConf.update(new, path, value, merge=False)
        result[path] = all_keys(new)
    assert {"paths.root", "pipeline.log_level", "train.nproc_per_node", "teacher.max_concurrency", "generation.device",
            "benchmark.batch_size", "sample.batch_size", "logger.project"} <= set(result)
    return result


@pytest.mark.parametrize("stage", STAGES)
def test_execution_fields_keep_the_key_and_stay_readable(stage, shapes, execution_keys):
    cfg = shapes["default"]
    before = all_keys(cfg)
    for node in nodes_of(cfg, stage):
        view = view_of(cfg, node)
        for path, after in execution_keys.items():
            assert after[node] == before[node], f"changing the execution field {path} changed {node}'s key"
            assert _read(view, path.split(".")) is None, (node, path)


# ---------------------------------------------------------------------------- (iii) the code reads what it keys
METHODS = {"get", "items", "values", "keys"}
# Reads the scan cannot place on their branch: (stage, path, config shape) where the code that reads it never runs.
UNREACHABLE = {("build", ("teacher", "model"), "release"):
               "synthesis_rows runs only without data=lemma_release, where build's parent smooth keys the teacher",
               **{("train", ("build", "lemma_budget"), shape):
                  "arm_max_steps reads it for train.lemma only, whose key covers it (Stage.arm_keys)"
                  for shape in ("default", "release")}}


def _chain(node: ast.AST) -> list[str] | None:
    """`ctx.cfg.a["b"].c` -> ["ctx", "cfg", "a", "b", "c"]; None when it is not a plain name/attribute chain."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, str):
            parts.append(node.slice.value)
            node = node.value
        elif isinstance(node, ast.Name):
            return [node.id, *reversed(parts)]
        else:
            return None


def _resolve(parts: list[str] | None, aliases: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    if parts and parts[:2] == ["ctx", "cfg"]:
        return tuple(parts[2:])
    return aliases[parts[0]] + tuple(parts[1:]) if parts and parts[0] in aliases else None


def _key_functions(module: Any, tree: ast.Module) -> set[str]:
    """needs= and files= run on the full config to compute the key itself, with what they call: not stage reads."""
    spec = module.STAGE
    names = {f.__name__ for f in (spec.needs, spec.files) if f is not None}
    defs = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    stack = [n for n in names if n in defs]
    while stack:
        for call in ast.walk(defs[stack.pop()]):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in defs \
                    and call.func.id not in names:
                names.add(call.func.id)
                stack.append(call.func.id)
    return names


class Scan(NamedTuple):
    reads: list[tuple[str, ...]]  # every cfg path the stage module's own code reads
    writes: list[tuple[str, ...]]
    passed: list[tuple[str, ...]]  # config nodes handed whole to code outside the module (OmegaConf, helpers)
    teacher: bool  # whether it calls ctx.teacher


@cache
def scan(stage: str) -> Scan:
    """What the stage module's own code does with its config (needs= and files= excepted: they compute the key)."""
    module = importlib.import_module(f"lemma.stages.{stage}")
    tree = ast.parse(inspect.getsource(module))
    skip = _key_functions(module, tree)
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name not in skip}
    aliases: dict[str, dict[str, tuple[str, ...]]] = {
        name: {a.arg: () for a in f.args.args + f.args.kwonlyargs if a.arg == "cfg"} for name, f in functions.items()}
    for _ in range(4):  # local aliases (b = cfg.benchmark), then arguments of the module's own functions
        for name, f in functions.items():
            for node in ast.walk(f):
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, value = node.targets[0], node.value
                    pairs = list(zip(target.elts, value.elts)) if isinstance(target, ast.Tuple) \
                        and isinstance(value, ast.Tuple) else [(target, value)]
                    for t, v in pairs:
                        path = _resolve(_chain(v), aliases[name])
                        if isinstance(t, ast.Name) and path is not None:
                            aliases[name].setdefault(t.id, path)
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
                    params = functions[node.func.id].args.args
                    for param, arg in zip(params, node.args):
                        path = _resolve(_chain(arg), aliases[name])
                        if path is not None:
                            aliases[node.func.id].setdefault(param.arg, path)
    reads, writes, passed, teacher = [], [], [], False
    for name, f in functions.items():
        parents = {child: parent for parent in ast.walk(f) for child in ast.iter_child_nodes(parent)}
        stores = {id(t) for n in ast.walk(f) if isinstance(n, (ast.Assign, ast.AugAssign))
                  for t in (n.targets if isinstance(n, ast.Assign) else [n.target])}
        for node in ast.walk(f):
            if not isinstance(node, (ast.Attribute, ast.Subscript)):
                continue
            parts = _chain(node)
            if parts and parts[0] == "ctx" and "teacher" in parts[1:3]:
                teacher = True
            parent = parents.get(node)
            if isinstance(parent, (ast.Attribute, ast.Subscript)) and _chain(parent) is not None:
                continue  # not the outermost link of its chain
            path = _resolve(parts, aliases[name])
            if path is None:
                continue
            if path and path[-1] in METHODS:
                arg = parent.args[0] if isinstance(parent, ast.Call) and parent.args else None
                tail = (arg.value,) if path[-1] == "get" and isinstance(arg, ast.Constant) else ()
                path = path[:-1] + tail
            (writes if id(node) in stores else reads).append(path)
            outside = isinstance(parent, ast.keyword) or (isinstance(parent, ast.Call) and node in parent.args
                                                           and not (isinstance(parent.func, ast.Name)
                                                                    and parent.func.id in functions))
            if outside and parts[-1] not in METHODS:
                passed.append(path)
    return Scan(sorted(set(reads)), sorted(set(writes)), sorted(set(passed)), teacher)


def _read(view: Any, parts: list[str] | tuple[str, ...], whole: bool = False) -> str | None:
    """Follow `parts` through the view; the refusal's message, or None when every link may be read.

    `whole`: the node is handed on as it is (OmegaConf.to_container(ctx.cfg.train), a helper), so a guarded group,
    keyed only in part, is a refusal too: the helper may read any of it.
    """
    value = view
    try:
        for part in parts:
            if not isinstance(value, StageConfig):
                return None  # a plain node (all of it is keyed) or a value: anything below may be read
            value = value[part]
    except UnkeyedConfigRead as exc:
        return str(exc)
    if whole and isinstance(value, StageConfig) and parts:
        return (f"cfg.{'.'.join(parts)} is handed whole to code outside the stage module, but only part of it is in "
                "the key: key the group, or pass the keyed fields")
    return None


@pytest.mark.parametrize("stage", STAGES)
def test_stage_source_reads_only_keyed_or_execution_paths(stage, shapes):
    reads, writes, passed, teacher = scan(stage)
    assert reads or teacher, f"the scan found nothing the stage reads in lemma/stages/{stage}.py: it is broken"
    assert not writes, f"{stage} writes its config: {writes}"
    problems = []
    for shape, cfg in shapes.items():
        for node in nodes_of(cfg, stage):
            view = view_of(cfg, node)
            problems += [f"{shape} {node}: {msg}" for path in reads
                         if (stage, path, shape) not in UNREACHABLE and (msg := _read(view, path))]
            problems += [f"{shape} {node}: {msg}" for path in passed
                         if (stage, path, shape) not in UNREACHABLE and (msg := _read(view, path, whole=True))]
            if teacher and "teacher" not in keyed_paths(cfg, node):
                problems.append(f"{shape} {node}: calls ctx.teacher, but 'teacher' is not in its key or a parent's")
    assert not problems, "\n".join(problems)


def test_scan_sees_aliases_helpers_and_get():
    assert ("correction", "seed") in scan("correct").reads  # model_aware_solution(cfg, ...)
    evaluate = scan("evaluate")
    assert ("teacher", "datasets") in evaluate.reads and evaluate.teacher  # _no_error_analysis(cfg, ...)
    assert ("benchmark", "grader_workers") in evaluate.reads  # b = ctx.cfg.benchmark; b.grader_workers
    assert ("teacher",) in evaluate.passed  # teacher_serves(cfg.teacher, ...)
    assert ("data", "world") in scan("problems").reads  # world_splits(data): data.world.items()
    assert ("train", "group_by_length") in scan("base").reads
    assert not scan("classify").reads and scan("classify").teacher
    module = importlib.import_module("lemma.stages.evaluate")  # needs= and files= compute the key: not stage reads
    assert _key_functions(module, ast.parse(inspect.getsource(module))) == {
        "needs", "model_node", "_files", "_unpinned_file_hashes"}


# ------------------------------------------------------------------------------------------------ the runtime view
def test_view_refuses_unkeyed_reads_and_all_writes(shapes):
    cfg = shapes["default"]
    view = view_of(cfg, "classify")  # keys teacher; ancestors problems (data), base (model, ...), sample
    with pytest.raises(UnkeyedConfigRead) as err:
        view.correction.truncate  # noqa: B018
    assert "'classify'" in str(err.value) and "correction.truncate" in str(err.value)
    assert "keys=" in str(err.value) and "lemma/stages/classify.py" in str(err.value)
    with pytest.raises(UnkeyedConfigRead, match="build.sources"):
        view["build"].get("sources")
    assert view.teacher.temperature == cfg.teacher.temperature and view.sample.n == cfg.sample.n  # own, ancestor
    assert view.pipeline.log_level == cfg.pipeline.log_level and view.generation.device == cfg.generation.device
    assert view.build.get("nonexistent", 3) == 3 and "sources" in view.build and len(view.build) == len(cfg.build)
    teacher = view.teacher  # below a keyed path: a plain, read-only DictConfig (interpolations still resolve)
    assert isinstance(teacher, DictConfig) and OmegaConf.to_container(teacher, resolve=True)["model"]
    with pytest.raises(ReadOnlyStageConfig, match="classify.*teacher"):
        view.teacher = None
    with pytest.raises(ReadOnlyStageConfig, match="correction.seed"):
        view.correction["seed"] = 1
    with pytest.raises(ReadonlyConfigError):
        teacher.temperature = 0.1
    assert cfg.teacher.temperature != 0.1 and not OmegaConf.is_readonly(cfg)  # the run's config is untouched
    assert "classify" in repr(view) and "0.7" not in repr(view)


def test_partly_keyed_groups_stay_guarded(shapes):
    cfg = shapes["default"]
    view = view_of(cfg, "train.sft")  # keys build.trajectory_share and build.seed, not the build group
    assert view.build.seed == cfg.build.seed and view.build.trajectory_share == cfg.build.trajectory_share
    with pytest.raises(UnkeyedConfigRead, match="build.fraction"):
        view.build.fraction  # noqa: B018
    assert view_of(cfg, "train.lemma").build.fraction == cfg.build.fraction  # build is train.lemma's parent


def test_stage_context_hands_stages_the_view(shapes, tmp_path):
    cfg = shapes["default"]
    ctx = StageContext(cfg, "correct", None, {}, tmp_path, ArtifactStore(tmp_path), "k", Services(cfg, tmp_path))
    assert isinstance(ctx.cfg, StageConfig) and ctx.services.cfg is cfg
    with pytest.raises(UnkeyedConfigRead, match="'correct'.*benchmark.limit"):
        ctx.cfg.benchmark.limit  # noqa: B018
    assert ctx.cfg.correction.seed == cfg.correction.seed
    assert StageContext(ctx.cfg, "correct", None, {}, tmp_path, ctx.store, "k", ctx.services).cfg is ctx.cfg


def test_problems_key_holds_the_gold_normalisation_of_train_files(shapes):
    from lemma.stages import problems

    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        files = compose(config_name="config", overrides=["data=gsm8k_math", "model=llama3_8b", "benchmark=gsm8k"])
    assert set(problems.STAGE.files(files)) == {"gold_normalisation"}  # golds made by lemma.answer_norm
    assert problems.STAGE.files(shapes["default"]) == {}  # a world's golds are its own: its key is unchanged
