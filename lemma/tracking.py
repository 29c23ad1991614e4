"""Experiment tracking: W&B (optional extra, `logger=wandb`) or nothing.

One W&B run per job, grouped by sweep; the run id is derived from the job's overrides, so a resumed job continues its
run instead of creating a duplicate. The config is logged resolved and without secrets (the teacher key is never in
the config: only the *name* of its environment variable is). Works offline (`WANDB_MODE=offline`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Protocol

from omegaconf import DictConfig, OmegaConf

from lemma.config_models import LoggerKind

log = logging.getLogger(__name__)
_SECRET_KEY = re.compile(r"(api_?key|token|secret|password)(?!_env)", re.IGNORECASE)


class Tracker(Protocol):
    def log_node(self, node: str, artifact_path: Path, manifest: dict[str, Any]) -> None: ...

    def log_train_step(self, node: str, row: dict[str, Any]) -> None: ...

    def finish(self, report: dict[str, Any] | None) -> None: ...


class NullTracker:
    def log_node(self, node: str, artifact_path: Path, manifest: dict[str, Any]) -> None:
        pass

    def log_train_step(self, node: str, row: dict[str, Any]) -> None:
        pass

    def finish(self, report: dict[str, Any] | None) -> None:
        pass


def make_tracker(cfg: DictConfig, job: dict[str, Any] | None = None) -> Tracker:
    """logger.kind is a LoggerKind (none or wandb), checked when Hydra composes."""
    if cfg.logger.kind == LoggerKind.none:
        return NullTracker()
    return WandbTracker(cfg, job or {})


def run_id(overrides: list[str], sweep: str | None) -> str:
    """Deterministic per job: the same overrides in the same sweep resume the same W&B run."""
    kept = sorted(o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "logger.")))
    return hashlib.sha256(json.dumps([sweep, kept]).encode()).hexdigest()[:16]


def scrub(data: Any) -> Any:
    """Drop any value whose key looks like a credential (a key *name* such as api_key_env stays)."""
    if isinstance(data, dict):
        return {k: ("<redacted>" if _SECRET_KEY.search(str(k)) else scrub(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [scrub(v) for v in data]
    return data


class WandbTracker:
    def __init__(self, cfg: DictConfig, job: dict[str, Any]) -> None:
        try:
            import wandb
        except ImportError as exc:
            raise ImportError("logger=wandb needs the wandb extra: pip install -e '.[wandb]'") from exc
        self._wandb = wandb
        config = scrub(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
        overrides = list(job.get("overrides", []))
        sweep = job.get("sweep")
        # under `wandb agent` (sweeps/wandb/*.yaml) the run id is the agent's, so the controller sees the run
        agent_id = os.environ.get("WANDB_RUN_ID") if os.environ.get("WANDB_SWEEP_ID") else None
        self._live_steps: dict[str, int] = {}  # last training step logged live, per train node
        self.run = wandb.init(project=cfg.logger.project, entity=cfg.logger.entity, group=cfg.logger.group or sweep,
                              id=agent_id or run_id(overrides, sweep), resume="allow", config=config, mode=cfg.logger.mode,
                              name=" ".join(overrides) or "default", dir=os.environ.get("WANDB_DIR") or job.get("dir"),
                              reinit="finish_previous")

    def log_node(self, node: str, artifact_path: Path, manifest: dict[str, Any]) -> None:
        metrics = {f"{node}/{k}": v for k, v in _flatten(manifest.get("stats", {})).items()}
        metrics[f"{node}/seconds"] = manifest.get("seconds")
        metrics.update({f"teacher/{node}/{k}": v for k, v in _flatten(manifest.get("teacher", {})).items()})
        self.run.log(metrics)
        stage, _, arm = node.partition(".")
        if stage not in ("train", "build", "evaluate"):
            return
        # the stage that made the artifact names its files; loaded by name, as the pipeline loads it (the stages
        # import the pipeline, which imports this module)
        producer = importlib.import_module(f"lemma.stages.{stage}")
        if stage == "train":
            self._log_curve(node, artifact_path / producer.LOG_FILE)
        elif stage == "build":
            self._log_table("trajectories", artifact_path / producer.SFT_FILE,
                            ["problem_id", "source", "error_type", "error_step", "strategy", "question", "response"])
        else:
            self._log_table(f"generations_{arm}", artifact_path / producer.GENERATIONS_FILE,
                            ["benchmark", "id", "gold", "extracted", "correct", "text"])

    def log_train_step(self, node: str, row: dict[str, Any]) -> None:
        """One logged training step, while training runs (lemma.training.follow), on the node's own step axis."""
        if node not in self._live_steps:
            self.run.define_metric(f"{node}/*", step_metric=f"{node}/step")
        self.run.log({f"{node}/{k}": v for k, v in row.items() if isinstance(v, (int, float))})
        self._live_steps[node] = int(row.get("step", 0))

    def _log_curve(self, node: str, path: Path) -> None:
        """Rows not already logged live (a cached train artifact, or steps the live follower missed)."""
        if not path.exists():
            return
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if int(row.get("step", 0)) > self._live_steps.get(node, 0):
                self.log_train_step(node, row)

    def _log_table(self, name: str, path: Path, columns: list[str], limit: int = 50) -> None:
        if not path.exists():
            return
        rows = []
        with path.open() as fh:
            for line, _ in zip(fh, range(limit)):
                record = json.loads(line)
                rows.append([_cell(record.get(c)) for c in columns])
        self.run.log({name: self._wandb.Table(columns=columns, data=rows)})

    def finish(self, report: dict[str, Any] | None) -> None:
        if report:
            for arm, result in report.get("results", {}).items():
                self.run.summary.update({f"{arm}/{k}": v for k, v in result.items() if isinstance(v, (int, float))})
            columns = ["arm", *report.get("benchmarks", []), "average"]
            rows = [[arm, *(r.get(c) for c in columns[1:])] for arm, r in report.get("results", {}).items()]
            self.run.log({"results": self._wandb.Table(columns=columns, data=rows)})
        self.run.finish()


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, f"{key}/"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = v
    return out


def _cell(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else json.dumps(value)
