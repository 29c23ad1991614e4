"""The per-request teacher cache: one JSON file per call, keyed by everything that decides the reply.

The original had no cache: a crash lost every answer, and `--resume` silently processed 8-16 questions (METHOD.md §10,
defects 8 and 10). Peer projects cache all-or-nothing, or lose the cache on success (DESIGN.md §9, b10). Here every
reply is written, atomically (temp file + rename in the same folder), *before* it is parsed or used, under
`<cache_dir>/teacher/<model>/<sha[:2]>/<sha>.json` with
sha = sha256(backend, model, messages, sampling settings, sample index). So a run killed at any moment resends only
requests without a stored answer, and sweep arms that send the same prompt share it. Nothing secret is stored:
entries hold the request body and the reply, never headers or keys.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lemma.teacher.base import Reply


def request_key(backend: str, model: str, messages: list[dict[str, str]], sampling: dict[str, Any],
                sample: tuple[int, int]) -> str:
    """Stable under dict order and process (no hash randomisation): canonical JSON, then sha256."""
    payload = {"backend": backend, "model": model, "messages": messages, "sampling": sampling,
               "sample": list(sample)}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _safe_name(model: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in model) or "model"


class RequestCache:
    def __init__(self, root: Path, model: str) -> None:
        self.dir = Path(root) / "teacher" / _safe_name(model)
        self._made: set[Path] = set()

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> Reply | None:
        path = self.path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            return None  # unreadable entry: treat as absent; a fresh answer will replace it atomically
        reply = data.get("reply")
        return Reply(**reply) if isinstance(reply, dict) else None

    def put(self, key: str, request: dict[str, Any], reply: Reply) -> None:
        path = self.path(key)
        if path.parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(path.parent)
        entry = {"key": key, "request": request, "reply": asdict(reply)}
        tmp = path.with_name(f".{key}.{os.getpid()}.tmp")  # one writer per key and process: calls are deduplicated
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(entry, fh, ensure_ascii=False)
            os.replace(tmp, path)  # atomic: readers see the old state or the whole entry, never a torn file
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return sum(1 for _ in self.dir.glob("*/*.json")) if self.dir.exists() else 0
