"""A stage's read-only view of the config: what its artifact key covers, plus execution settings, and nothing else.

Why: a node's key hashes only the config paths in its stage's `keys=` and, through its parents' keys, those of its
ancestors (lemma.pipeline.node_key). A stage that read any other field would get a stale cache hit when that field
changed. `StageContext.cfg` is therefore a `StageConfig`: reading an unkeyed path raises `UnkeyedConfigRead`, which
names the stage, the path and the fix, the first time the code runs, not after a sweep was silently reused.

What a stage may read:
- every path in its own `keys=` or an ancestor's (all of it: `keys=("train",)` gives the whole `train` group), as
  `lemma.pipeline.keyed_paths` lists them;
- the fields each schema lists in `EXECUTION_FIELDS` (lemma.config: `train.nproc_per_node`, `teacher.max_concurrency`,
  `generation.*`, `benchmark.batch_size`, ...), which the key drops because they never change results;
- the top-level execution settings of `EXECUTION_ROOTS` below.

Writes raise too. Below a keyed path the view hands out plain DictConfig nodes of a read-only copy of the config
(interpolations still resolve against its root), so `OmegaConf.to_container`, `.get` and helpers work unchanged; a
group keyed only in part (`keys=("correction.seed",)`) stays guarded below. `ctx.services` keeps the full config: it is
execution machinery (the teacher and grader it builds are keyed by the stages that use them, e.g. `keys=("teacher",)`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lemma.errors import LemmaError

# Top-level settings that decide where and how a run executes, never what an artifact holds: output and data folders
# (paths), log level, progress interval and build_missing (pipeline), the tracker (logger), which nodes to run (stage,
# force) and Hydra's own settings. Per-group execution fields come from the schemas' EXECUTION_FIELDS instead.
EXECUTION_ROOTS = frozenset({"paths", "pipeline", "logger", "stage", "force", "hydra", "reference_results"})


class StageConfigError(LemmaError, RuntimeError):
    """A stage touched its config outside what its key covers (a bug in the stage, found before it is cached)."""


class UnkeyedConfigRead(StageConfigError):
    """A stage read a config path that is not in its key, nor an ancestor's, nor an execution setting."""

    def __init__(self, stage: str, path: str) -> None:
        self.stage, self.path = stage, path
        super().__init__(
            f"stage {stage!r} read cfg.{path}, which its artifact key does not cover: a change to it would reuse a "
            f"stale cached {stage} artifact. Add {path!r} (or a group above it) to keys= of STAGE in "
            f"lemma/stages/{stage}.py and bump its version=; or, if it only decides how the stage runs (never what "
            "it produces), list it in its schema's EXECUTION_FIELDS (lemma.config)")


class ReadOnlyStageConfig(StageConfigError):
    """A stage tried to change its config."""

    def __init__(self, stage: str, path: str) -> None:
        self.stage, self.path = stage, path
        super().__init__(f"stage {stage!r} tried to set cfg.{path}: a stage's config is read-only (its artifact key "
                         "was computed from it); build a new value from it instead")


def stage_view(cfg: DictConfig, stage: str, keyed: frozenset[str]) -> StageConfig:
    """`cfg` as `stage` may see it, given the paths its node's key covers (lemma.pipeline.keyed_paths).

    The view reads a read-only copy, so nodes it hands out cannot change the run's config either.
    """
    frozen = copy.deepcopy(cfg)
    OmegaConf.set_readonly(frozen, True)
    return StageConfig(frozen, stage, keyed)


def _execution_fields(node: DictConfig) -> frozenset[str]:
    return getattr(OmegaConf.get_type(node), "EXECUTION_FIELDS", frozenset())


class StageConfig:
    """A guarded DictConfig: attribute and item access, `in`, `len`, `.get`, `.keys/.items/.values`, iteration."""

    __slots__ = ("_node", "_stage", "_keyed", "_prefix")

    def __init__(self, node: DictConfig, stage: str, keyed: frozenset[str], prefix: str = "") -> None:
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_stage", stage)
        object.__setattr__(self, "_keyed", keyed)
        object.__setattr__(self, "_prefix", prefix)

    def _covered(self, path: str) -> bool:
        return any(path == k or path.startswith(k + ".") for k in self._keyed)

    def _read(self, key: str, attribute: bool = False) -> Any:
        path = f"{self._prefix}{key}"
        allowed = self._covered(path) or key in _execution_fields(self._node) \
            or (not self._prefix and key in EXECUTION_ROOTS)
        value = getattr(self._node, key) if attribute else self._node[key]  # a missing key fails as DictConfig's does
        if allowed:
            return value
        if isinstance(value, DictConfig):  # a partly keyed group, or one with execution fields: guarded below
            return StageConfig(value, self._stage, self._keyed, path + ".")
        raise UnkeyedConfigRead(self._stage, path)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):  # copy/pickle protocol probes, private names: never config keys
            raise AttributeError(key)
        return self._read(key, attribute=True)

    def __getitem__(self, key: str) -> Any:
        return self._read(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self._read(key) if key in self._node else default

    def __contains__(self, key: object) -> bool:
        return key in self._node  # whether a key exists is not a read of its value

    def __iter__(self) -> Iterator[str]:
        return iter(self._node)

    def __len__(self) -> int:
        return len(self._node)

    def keys(self) -> Any:
        return self._node.keys()

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self._read(k)) for k in self._node]

    def values(self) -> list[Any]:
        return [self._read(k) for k in self._node]

    def __setattr__(self, key: str, value: Any) -> None:
        raise ReadOnlyStageConfig(self._stage, f"{self._prefix}{key}")

    def __setitem__(self, key: str, value: Any) -> None:
        raise ReadOnlyStageConfig(self._stage, f"{self._prefix}{key}")

    def __delattr__(self, key: str) -> None:
        raise ReadOnlyStageConfig(self._stage, f"{self._prefix}{key}")

    def __delitem__(self, key: str) -> None:
        raise ReadOnlyStageConfig(self._stage, f"{self._prefix}{key}")

    def __reduce__(self) -> tuple[Any, ...]:  # pickles through __init__: __setattr__ refuses
        return StageConfig, (self._node, self._stage, self._keyed, self._prefix)

    def __copy__(self) -> StageConfig:  # immutable: a copy is itself
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> StageConfig:
        return self

    def __repr__(self) -> str:  # never the values: printing must not read around the guard
        at = self._prefix.rstrip(".") or "<root>"
        return f"StageConfig(stage={self._stage!r}, at={at!r}, keys={list(self._node)})"
