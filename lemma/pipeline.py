"""The stage graph: which stages a run needs, their artifact keys, cache checks and dispatch.

A *stage* is a module of `lemma.stages` with a `STAGE` declaration and a plain `run(ctx) -> stats` function. A *node*
is one use of a stage in the graph: `train` appears twice (`train.sft`, `train.lemma`) and `evaluate` once per arm, so
the baselines of the final table are cached separately from the LEMMA arm and `correction=fix_only` retrains only
the LEMMA model.

```
problems -> base -> sample -> classify -> inject -> locate -> correct -> smooth -> build -> train.lemma -> evaluate.lemma
                                                                                             train.sft  -> evaluate.sft
                                                                                                          evaluate.base -> report
```
"""

from __future__ import annotations

import importlib
import logging
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lemma import artifacts
from lemma.artifacts import Artifact, ArtifactStore, compute_key, write_json
from lemma.errors import LemmaError
from lemma.stage_names import STAGE_NAMES  # noqa: F401  (re-exported: the names live where config can import them)

log = logging.getLogger(__name__)
LINEAGE_FILE = "lineage.json"  # in the run folder: every node's artifact, and which were computed or cached


@dataclass(frozen=True)
class Stage:
    """A stage declaration. `needs` and `keys` may depend on the config (e.g. data=lemma_release skips synthesis)."""
    name: str
    run: Callable[[StageContext], dict[str, Any]]
    needs: Callable[[DictConfig, str | None], tuple[str, ...]]
    keys: tuple[str, ...] = ()  # dotted config paths whose content decides the artifact
    version: int = 1
    files: Callable[[DictConfig], dict[str, bytes]] | None = None  # prompt/template bytes hashed into the key
    # What the stage runs on the GPU: "student" (generation engines), "teacher" (a local teacher model), "trainer"
    # (a training child process). Before a stage with uses, every engine it does not use is shut down (Services).
    uses: tuple[str, ...] = ()
    # Paths that only some arms' nodes read (train's lemma budget): keyed for those nodes alone, so the other arms
    # stay one artifact across variants that change them.
    arm_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def keys_for(self, arm: str | None) -> tuple[str, ...]:
        return self.keys + tuple(self.arm_keys.get(arm or "", ()))


@dataclass
class StageContext:
    """What a stage gets: its config, its parents' artifacts, a temporary output folder and shared services.

    `cfg` becomes a read-only view (lemma.stage_view) of what the node's key covers plus execution settings: reading
    any other path raises, so a stage cannot depend on a field that would not invalidate its cached artifact.
    `services` keeps the full config (execution machinery; the teacher it builds is keyed by the stages using it).
    """
    cfg: Any
    node: str
    arm: str | None
    inputs: dict[str, Artifact]
    out: Path
    store: ArtifactStore
    key: str
    services: Services

    def __post_init__(self) -> None:
        from lemma.stage_view import stage_view

        if isinstance(self.cfg, DictConfig):
            self.cfg = stage_view(self.cfg, split_node(self.node)[0], keyed_paths(self.cfg, self.node))

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"lemma.stages.{self.node}")

    @property
    def teacher(self) -> Any:
        return self.services.teacher

    @property
    def grader(self) -> Any:
        return self.services.grader

    def work_dir(self) -> Path:
        """Persistent per-key scratch space for resumable work; removed once the artifact is committed."""
        return self.store.scratch(split_node(self.node)[0], self.key)

    def input(self, node: str) -> Artifact:
        return self.inputs[node]

    def progress(self, what: str, total: int, unit: str = "items") -> Any:
        """A progress reporter for a long loop of this stage (lemma.progress), at the configured log interval."""
        from lemma.progress import Progress

        return Progress(f"{self.node}: {what}", total, interval_s=self.cfg.pipeline.progress_interval_s, unit=unit,
                        logger=self.log)


@dataclass
class Services:
    """Expensive shared objects, built on first use and closed at the end of the run.

    They own every in-process model of the run in `engines` (lemma.engines): student and evaluated models, and a
    local vLLM/transformers teacher's model, which its backend loads there through lemma.generation. `release_for`
    shuts down what the next stage does not use, so that training and evaluation get the GPU memory an earlier
    stage's engine held.
    """
    cfg: DictConfig
    cache_dir: Path
    _teacher: Any = None
    _grader: Any = None
    engines: Any = field(default_factory=lambda: importlib.import_module("lemma.engines").Engines())
    tracker: Any = None  # the run's tracker (lemma.tracking), for live training curves

    @property
    def teacher(self) -> Any:
        if self._teacher is None:
            from lemma.teacher import make_teacher

            self._teacher = make_teacher(self.cfg, str(self.cache_dir), self.engines)
        return self._teacher

    def teacher_usage(self) -> Any:
        """A snapshot of the teacher's counters, or None while no stage has built it (reading `teacher` would)."""
        return None if self._teacher is None else self._teacher.usage.snapshot()

    def teacher_manifest(self, before: Any) -> dict[str, Any] | None:
        """The teacher's name, model and use since `before` (a teacher_usage()) for a manifest; None if never built."""
        t = self._teacher
        if t is None:
            return None
        record = {"name": t.name, "model": t.model, **t.usage.since(before if before is not None else type(t.usage)())}
        if hasattr(t, "budget_status"):  # spend through the cache, all runs: the report
            record["budget"] = t.budget_status()
        return record

    @property
    def grader(self) -> Any:
        if self._grader is None:
            from lemma.grading import Grader

            b = self.cfg.benchmark
            self._grader = Grader(mode="math_verify", timeout_s=b.grader_timeout_s, workers=b.grader_workers)
        return self._grader

    def release_for(self, node: str, uses: tuple[str, ...]) -> list[str]:
        """Shut down the engines a stage with these `uses` does not need; returns what was released."""
        released = self.engines.release(keep=uses)  # student, evaluated and local teacher models
        teacher = self._teacher  # a teacher holding a model outside the run's engines
        if "teacher" not in uses and teacher is not None and getattr(teacher, "holds_gpu", False):
            teacher.release()
            released.append(f"teacher model {teacher.model}")
        if released:
            log.info("released %s before %s (GPU memory back for this stage)", " and ".join(released), node)
        return released

    def close(self) -> None:
        self.engines.release()
        for obj in (self._teacher, self._grader):
            if obj is not None:
                obj.close()


def load_stage(name: str) -> Stage:
    return stage_module(name).STAGE


def stage_module(name: str) -> Any:
    """A stage's module: besides STAGE it names its artifact's files and reads them (producers own their files).

    Loaded by name like every stage: the stages import this module, so it never imports them.
    """
    return importlib.import_module(f"lemma.stages.{name}")


def node_names(cfg: DictConfig) -> list[str]:
    """Every node of the full graph for this config, in a valid execution order."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(node: str) -> None:
        if node in seen:
            return
        seen.add(node)
        for parent in needs_of(cfg, node):
            visit(parent)
        order.append(node)

    visit("report")
    return order


def split_node(node: str) -> tuple[str, str | None]:
    stage, _, arm = node.partition(".")
    return stage, arm or None


def needs_of(cfg: DictConfig, node: str) -> tuple[str, ...]:
    stage, arm = split_node(node)
    return load_stage(stage).needs(cfg, arm)


def select(cfg: DictConfig, stage: str) -> list[str]:
    """Nodes to run for `stage=<name>`: its nodes and their ancestors, in order."""
    order = node_names(cfg)
    if stage == "all":
        return order
    targets = {n for n in order if split_node(n)[0] == stage}
    wanted: set[str] = set()
    stack = list(targets)
    while stack:
        node = stack.pop()
        if node not in wanted:
            wanted.add(node)
            stack.extend(needs_of(cfg, node))
    return [n for n in order if n in wanted]


def descendants(cfg: DictConfig, roots: set[str]) -> set[str]:
    order = node_names(cfg)
    out = set(roots)
    for node in order:
        if any(p in out for p in needs_of(cfg, node)):
            out.add(node)
    return out


def node_key(cfg: DictConfig, node: str, parent_keys: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    stage_name, arm = split_node(node)
    stage = load_stage(stage_name)
    config = {path: artifacts.content_slice(OmegaConf.select(cfg, path)) for path in stage.keys_for(arm)}
    if arm:
        config["arm"] = arm
    files = stage.files(cfg) if stage.files else {}
    return compute_key(stage_name, stage.version, config, files, parent_keys), config


def keyed_paths(cfg: DictConfig, node: str) -> frozenset[str]:
    """The config paths `node`'s key covers: its stage's keys and every ancestor's (their keys are in its parents')."""
    paths: set[str] = set()
    seen: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            name, arm = split_node(current)
            paths.update(load_stage(name).keys_for(arm))
            stack.extend(needs_of(cfg, current))
    return frozenset(paths)


@dataclass
class RunResult:
    lineage: dict[str, str] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    report: dict[str, Any] | None = None


def run(cfg: DictConfig, run_dir: Path | None = None, job: dict[str, Any] | None = None) -> RunResult:
    """Build every node the chosen stage needs, reusing committed artifacts.

    The caller runs the pre-flight first (lemma.cli: `lemma.preflight.check`, which reads this graph, so the
    pipeline does not import it back). `job` (overrides, sweep name, run folder) names the tracker run, so a resumed
    job continues it.
    """
    from lemma.tracking import make_tracker

    store = ArtifactStore(Path(cfg.paths.artifacts).resolve())
    services = Services(cfg, Path(cfg.paths.cache).resolve())
    nodes = select(cfg, cfg.stage)
    forced = descendants(cfg, {n for n in node_names(cfg) if split_node(n)[0] in set(cfg.force)})
    result = RunResult()
    built: dict[str, Artifact] = {}
    tracker = make_tracker(cfg, job)
    services.tracker = tracker
    try:
        for node in nodes:
            parents = {p: built[p] for p in needs_of(cfg, node)}
            key, config = node_key(cfg, node, {p: a.key for p, a in parents.items()})
            artifact = _build_node(cfg, store, services, node, key, config, parents, node in forced, result)
            built[node] = artifact
            result.lineage[node] = str(artifact)
            tracker.log_node(node, artifact.path, artifact.manifest)
    finally:
        services.close()
        if run_dir is not None:
            write_json(run_dir / LINEAGE_FILE, {"lineage": result.lineage, "computed": result.computed,
                                                   "cached": result.cached})
    if cfg.teacher.get("dry_run", False):
        log.info("dry run: every teacher request this run needs is already cached; nothing to send")
    if "report" in built:
        result.report = _copy_report(built["report"], run_dir)
    tracker.finish(result.report)
    return result


class MissingArtifact(LemmaError, RuntimeError):
    """stage=X with pipeline.build_missing=false found an ancestor that was never built."""


def _build_node(cfg: DictConfig, store: ArtifactStore, services: Services, node: str, key: str,
                config: dict[str, Any], parents: dict[str, Artifact], force: bool, result: RunResult) -> Artifact:
    from lemma.signals import children_stopped_on_failure

    stage_name, arm = split_node(node)
    # on failure or a stop signal, the stage's child processes end before its lock is released
    with store.lock(stage_name, key), children_stopped_on_failure(node, f"{stage_name}/{key}"):
        existing = store.get(stage_name, key)
        if existing is not None and not force:
            log.info("cache hit %s/%s", node, key)
            result.cached.append(node)
            return existing
        if existing is None and not cfg.pipeline.build_missing and cfg.stage not in ("all", stage_name):
            raise MissingArtifact(f"{node}/{key} is missing and pipeline.build_missing=false; run "
                                  f"stage={stage_name} first, or set pipeline.build_missing=true")
        log.info("running %s -> %s/%s", node, node, key)
        stage = load_stage(stage_name)
        _dry_run_guard(cfg, node, stage)
        if stage.uses:
            services.release_for(node, stage.uses)
        start = time.time()
        with store.writing(stage_name, key) as out:
            ctx = StageContext(cfg, node, arm, parents, out, store, key, services)
            usage_before = services.teacher_usage()
            stats = stage.run(ctx) or {}
            manifest = {
                "stage": stage_name, "node": node, "key": key, "version": stage.version,
                "parents": {p: a.key for p, a in parents.items()}, "config": config, "stats": stats,
                "seconds": round(time.time() - start, 3), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "git": _git_hash(),
            }
            teacher = services.teacher_manifest(usage_before)
            if teacher is not None:
                manifest["teacher"] = teacher
            (out / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
            write_json(out / artifacts.MANIFEST, manifest)
        work = store.root / stage_name / f".work-{key}"
        if work.exists():
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        log.info("%s done in %.1fs: %s", node, time.time() - start, _short(stats))
        result.computed.append(node)
        return Artifact(stage_name, key, store.path(stage_name, key))


def _dry_run_guard(cfg: DictConfig, node: str, stage: Stage) -> None:
    """A dry run builds free stages and teacher stages (which stop at the first uncached request) and no others."""
    if not cfg.teacher.get("dry_run", False) or not set(stage.uses) - {"teacher"}:
        return
    from lemma.teacher.dry_run import DryRunStop

    raise DryRunStop(f"dry run: stopped before {node}, which runs {' and '.join(stage.uses)} work (GPU time, not "
                     f"teacher requests). Every teacher request up to here is cached, so nothing is left to send "
                     f"before it; build it with `stage={split_node(node)[0]}` (without teacher.dry_run) and run the "
                     "dry run again to count the next teacher stage's requests.")


def _short(stats: dict[str, Any]) -> str:
    flat = {k: v for k, v in stats.items() if isinstance(v, (int, float, str))}
    return ", ".join(f"{k}={v}" for k, v in list(flat.items())[:8])


def _copy_report(report: Artifact, run_dir: Path | None) -> dict[str, Any]:
    import shutil

    producer = stage_module(report.stage)
    if run_dir is not None:
        for name in producer.RUN_FILES:
            if report.file(name).exists():
                shutil.copyfile(report.file(name), run_dir / name)
    return producer.read_report(report)


def _git_hash() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
