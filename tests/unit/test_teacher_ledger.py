"""The persistent spend ledger: concurrent jobs share one cap through a file lock, dead jobs release their holds."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
from pathlib import Path

import pytest

from lemma.teacher.accounting import BudgetExceeded, Ledger, Prices
from lemma.teacher.base import TeacherUsage
from lemma.teacher.cache import Reply
from lemma.teacher.ledger import SpendLedger

PRICES = Prices(0.0, 1e6)  # $1 per output token: max_tokens 1 -> worst case $1
REPLY = Reply("x", "stop", 0, 1)  # costs exactly its worst case


def _spend_until_refused(path: str, cap: float, out: "mp.Queue[int]") -> None:
    """One 'sweep job': reserve, settle, repeat until the shared cap refuses."""
    ledger = Ledger(TeacherUsage(), PRICES, cap, spend=SpendLedger(Path(path)))
    paid = 0
    while True:
        try:
            held = ledger.reserve(0, 1)
        except BudgetExceeded:
            break
        ledger.settle("job", held, REPLY)
        paid += 1
    out.put(paid)


def test_concurrent_jobs_never_spend_past_one_shared_cap(tmp_path):
    path, cap = tmp_path / "ledger.json", 300.0
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    jobs = [ctx.Process(target=_spend_until_refused, args=(str(path), cap, out)) for _ in range(3)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(60)
    paid = [out.get(timeout=5) for _ in jobs]
    state = json.loads(path.read_text())
    assert sum(paid) == state["requests"] == 300  # no lost update, and the cap is reached exactly, never crossed
    assert state["spent_usd"] == pytest.approx(cap) and state["in_flight"] == {}
    assert all(n > 0 for n in paid), paid  # the jobs really ran side by side


def test_a_rerun_starts_from_what_earlier_runs_spent(tmp_path):
    path = tmp_path / "ledger.json"
    first = Ledger(TeacherUsage(), PRICES, 3.0, spend=SpendLedger(path))
    for _ in range(2):
        first.settle("locate", first.reserve(0, 1), REPLY)
    rerun = Ledger(TeacherUsage(), PRICES, 3.0, spend=SpendLedger(path))  # a new process, $0 in memory
    rerun.settle("locate", rerun.reserve(0, 1), REPLY)
    with pytest.raises(BudgetExceeded, match=r"\$3\.0000 is spent"):
        rerun.reserve(0, 1)
    assert rerun.status() == {"spent_total_usd": 3.0, "max_cost_usd": 3.0, "remaining_usd": 0.0, "scope": "cache"}


def test_holds_of_a_dead_process_are_dropped(tmp_path):
    path = tmp_path / "ledger.json"
    dead = mp.get_context("fork").Process(target=lambda: None)
    dead.start()
    dead.join()
    host = socket.gethostname()
    path.write_text(json.dumps({"spent_usd": 1.0, "requests": 1, "input_tokens": 0, "output_tokens": 1, "by_job": {},
                                "in_flight": {f"{host}:{dead.pid}:x": {"usd": 5.0, "host": host, "pid": dead.pid,
                                                                        "at": 0},
                                              f"{host}:{os.getpid()}:y": {"usd": 1.0, "host": host,
                                                                          "pid": os.getpid(), "at": 0}}}))
    ledger = Ledger(TeacherUsage(), PRICES, 4.0, spend=SpendLedger(path))
    held = ledger.reserve(0, 1)  # 1 spent + 1 held by a live process + 1 = 3 <= 4; the dead job's 5 is gone
    with pytest.raises(BudgetExceeded):
        ledger.reserve(0, 1) and ledger.reserve(0, 1)
    ledger.release(held)
    state = json.loads(path.read_text())
    assert f"{host}:{dead.pid}:x" not in state["in_flight"] and state["spent_usd"] == 1.0


def test_a_damaged_ledger_is_reported_not_reset(tmp_path):
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    with pytest.raises(RuntimeError, match="not valid JSON"):
        Ledger(TeacherUsage(), PRICES, 4.0, spend=SpendLedger(path)).reserve(0, 1)
