"""Content-addressed, immutable stage artifacts with atomic commits.

`outputs/artifacts/<stage>/<key>/` holds what a stage made, its resolved config slice and `manifest.json`. The key
hashes the stage name and version, the *content* part of its config slice, its prompt/template files and its parents'
keys: a rerun with the same content recomputes nothing, and execution settings (devices, concurrency) never change a key.

A stage writes into a temporary sibling folder; the manifest is written last and the folder is renamed into place in
one atomic step, so a killed write can never be taken for a finished artifact (the nanochat rule: manifest = complete).
A per-key file lock makes concurrent sweep jobs that need the same missing artifact build it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

MANIFEST = "manifest.json"


def content_slice(node: Any) -> Any:
    """The config node as plain data, without the fields its schema marks as execution-only."""
    if isinstance(node, DictConfig):
        schema = OmegaConf.get_type(node)
        skip = getattr(schema, "EXECUTION_FIELDS", frozenset())
        return {k: content_slice(node[k]) for k in sorted(node.keys()) if k not in skip}
    if isinstance(node, ListConfig):
        return [content_slice(v) for v in node]
    if hasattr(node, "value") and not isinstance(node, (str, int, float, bool)):  # enums
        return node.value
    return node


def compute_key(stage: str, version: int, config: Mapping[str, Any], files: Mapping[str, bytes], parents: Mapping[str, str]) -> str:
    """sha256 over everything that decides an artifact's content; stable under dict ordering."""
    payload = {
        "stage": stage,
        "version": version,
        "config": config,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "parents": dict(sorted(parents.items())),
    }
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class Artifact:
    stage: str
    key: str
    path: Path

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / MANIFEST).read_text())

    def file(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return f"{self.stage}/{self.key}"


class ArtifactStore:
    """Knows the directory shape; stages receive Artifact objects and a scratch folder, never build paths."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, node: str, key: str) -> Path:
        return self.root / node / key

    def get(self, node: str, key: str) -> Artifact | None:
        path = self.path(node, key)
        return Artifact(node, key, path) if (path / MANIFEST).is_file() else None

    @contextlib.contextmanager
    def lock(self, node: str, key: str) -> Iterator[None]:
        """An exclusive lock per artifact, held while it is checked and built.

        Released by closing the file, never by an explicit unlock: a flock() belongs to the open file, and the
        training child inherits the descriptor (lemma.signals.held_lock_fds), so the lock lasts as long as the
        driver or that child still runs. A rerun never trains into a folder an orphaned child still writes.
        """
        from lemma import signals

        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        path = lock_dir / f"{node}-{key}.lock"
        with open(path, "a+") as fh:
            _acquire(fh, path, f"{node}/{key}")
            signals.register_lock(fh.fileno(), f"{node}/{key}")
            try:
                yield
            finally:
                signals.unregister_lock(fh.fileno())

    @contextlib.contextmanager
    def writing(self, node: str, key: str) -> Iterator[Path]:
        """Yield a temporary folder; on success the caller has written MANIFEST last, and the folder is renamed in place."""
        final = self.path(node, key)
        tmp = final.parent / f".tmp-{key}-{os.getpid()}-{time.monotonic_ns()}"
        tmp.mkdir(parents=True)
        try:
            yield tmp
            if not (tmp / MANIFEST).is_file():
                raise RuntimeError(f"{node}/{key}: stage finished without writing {MANIFEST}")
            if final.exists():  # a stale incomplete folder (no manifest) from an older layout: replace it
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def scratch(self, node: str, key: str) -> Path:
        """A persistent work folder for a stage that resumes (training checkpoints, per-item progress).

        Deterministic from the key, so a killed run finds its partial work; deleted when the artifact commits.
        """
        path = self.root / node / f".work-{key}"
        path.mkdir(parents=True, exist_ok=True)
        return path


LOCK_WAIT_LOG_S = 60.0


def _acquire(fh: Any, path: Path, what: str) -> None:
    """Take the lock, saying who holds it while we wait (a concurrent sweep job, or a child of a dead run)."""
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        import logging

        from lemma.signals import lock_holders

        log = logging.getLogger(__name__)
        while True:
            holders = "; ".join(p.describe() for p in lock_holders(str(path)) if p.pid != os.getpid()) or "unknown"
            log.info("waiting for the lock on %s, held by %s (%s)", what, holders, path)
            try:
                _flock_within(fh, LOCK_WAIT_LOG_S)
                break
            except TimeoutError:
                continue
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}\n")
    fh.flush()


def _flock_within(fh: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError from None
            time.sleep(0.2)


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write: temp file, fsync, rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
