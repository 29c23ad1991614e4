"""The spend ledger that outlives a run: one file beside the request cache, shared by reruns and sweep jobs.

`teacher.max_cost_usd` is a promise about money, and money is spent across runs: a crashed run is resumed by
running the same command again, and a sweep runs its jobs at the same time against one request cache. A cap kept in
memory restarts from $0 in each of them, so a $50 cap could spend $50 per attempt. Here the spend is kept in
`<cache>/teacher/<model>/spend.ledger` (a JSON document; not named *.json, so nothing takes it for a cached
reply), next to the replies it paid for, and every request is admitted against it:

- `spent_usd` (and tokens, requests, per job) grows with each settled reply, whichever process paid for it;
- `in_flight` holds each live process's reserved worst case, so two jobs admitted at the same moment cannot
  together cross the cap; entries of processes that died (same host, pid gone) or that stopped updating (another
  host, older than `STALE_S`) are dropped, so a killed job does not hold budget forever;
- every read-modify-write happens under an exclusive `flock` on `spend.ledger.lock` and is written atomically
  (temporary file + rename), so readers never see a torn file.

The scope is the cache folder (`paths.cache`) and the teacher model: everything bought for that model through that
cache counts, which is what "the total spent on this synthesis" means when reruns and sweep arms share replies.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LEDGER_FILE = "spend.ledger"
STALE_S = 3600.0  # an in-flight entry from another host that has not been touched for this long is dropped


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _empty() -> dict[str, Any]:
    return {"spent_usd": 0.0, "requests": 0, "input_tokens": 0, "output_tokens": 0, "by_job": {}, "in_flight": {}}


class SpendLedger:
    """Persistent, process-shared spend for one teacher model under one cache folder."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.host = socket.gethostname()
        self.holder = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock

    @classmethod
    def beside(cls, cache_dir: Path) -> SpendLedger:
        return cls(Path(cache_dir) / LEDGER_FILE)

    # ------------------------------------------------------------------------------------------------ file io
    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The state under an exclusive lock; whatever the block leaves in it is written back atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = self._read()
                self._drop_stale(state)
                yield state
                self._write(state)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _empty()
        except json.JSONDecodeError as exc:  # written atomically, so this is damage from outside: say so
            raise RuntimeError(f"{self.path}: the teacher spend ledger is not valid JSON ({exc}); restore it or "
                               "delete it (the cap then restarts from $0)") from None
        return {**_empty(), **state}

    def _write(self, state: dict[str, Any]) -> None:
        state["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    def _drop_stale(self, state: dict[str, Any]) -> None:
        now = self._clock()
        for holder, entry in list(state["in_flight"].items()):
            if holder == self.holder:
                continue
            same_host = entry.get("host") == self.host
            dead = same_host and not _pid_alive(int(entry.get("pid", -1)))
            if dead or (not same_host and now - float(entry.get("at", 0)) > STALE_S):
                del state["in_flight"][holder]

    def _mine(self, state: dict[str, Any]) -> dict[str, Any]:
        entry = state["in_flight"].setdefault(self.holder, {"usd": 0.0, "host": self.host, "pid": os.getpid()})
        entry["at"] = self._clock()
        return entry

    # ------------------------------------------------------------------------------------------------ operations
    def reserve(self, usd: float, cap: float | None, refuse: Callable[[dict[str, float]], Exception]) -> None:
        """Hold `usd` for one request, or raise `refuse(totals)` when spent + all in flight + usd would cross `cap`."""
        with self._locked() as state:
            in_flight = sum(float(e["usd"]) for e in state["in_flight"].values())
            if cap is not None and state["spent_usd"] + in_flight + usd > cap:
                raise refuse({"spent_usd": state["spent_usd"], "in_flight_usd": in_flight, "cap_usd": cap})
            self._mine(state)["usd"] += usd

    def release(self, usd: float) -> None:
        with self._locked() as state:
            entry = self._mine(state)
            entry["usd"] = max(0.0, entry["usd"] - usd)
            self._tidy(state)

    def settle(self, job: str, reserved: float, cost: float, input_tokens: int, output_tokens: int) -> None:
        """Record a paid reply and give back its reservation."""
        with self._locked() as state:
            entry = self._mine(state)
            entry["usd"] = max(0.0, entry["usd"] - reserved)
            state["spent_usd"] += cost
            state["requests"] += 1
            state["input_tokens"] += input_tokens
            state["output_tokens"] += output_tokens
            totals = state["by_job"].setdefault(job, {"requests": 0, "input_tokens": 0, "output_tokens": 0,
                                                      "cost_usd": 0.0})
            totals["requests"] += 1
            totals["input_tokens"] += input_tokens
            totals["output_tokens"] += output_tokens
            totals["cost_usd"] += cost
            self._tidy(state)

    def _tidy(self, state: dict[str, Any]) -> None:
        if state["in_flight"].get(self.holder, {}).get("usd", 1.0) <= 1e-12:
            del state["in_flight"][self.holder]

    def totals(self) -> dict[str, Any]:
        """The whole ledger as of now (read under the lock, nothing changed)."""
        if not self.path.exists():
            return _empty()
        with self._locked() as state:
            return json.loads(json.dumps(state))
