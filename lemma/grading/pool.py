"""Isolated worker pool (EVALUATION.md §6.5): everything that reaches sympy runs here, with a per-item time limit.

Why processes started with ``subprocess`` and not ``multiprocessing``: spawn/forkserver re-import the parent's
``__main__`` (a pipeline script without a main guard would run again; code from stdin fails), and fork is unsafe next to
CUDA threads. Each item has a soft limit (an interval timer in the worker raising a ``BaseException``, so no ``except
Exception`` in sympy or Math-Verify swallows it) and a hard limit (the parent kills and replaces a worker that has not
answered by the hard deadline: C-level calls an alarm cannot interrupt, §4.2). Math-Verify's own alarms are off in the
worker so they cannot cancel our timer, and a timeout is counted instead of silently turning into "did not parse".

A task is a tuple whose first element names it (``run_task``): ``("grade", mode, pred, gold)`` with ``Answer.wire()``
tuples, or ``("math_verify", response, gold, pred, gold_answer)`` for ``--compare``.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from lemma.grading.core import compare_answers, configs
from lemma.grading.extraction import Answer
from lemma.grading.qwen import qwen_equal

__all__ = ["WorkerPool", "run_task", "worker_main"]

Task = tuple[Any, ...]


def run_task(task: Task) -> Any:
    """One task, in process: ("grade", ...) -> (correct, extracted, rule); ("math_verify", ...) -> the plain
    Math-Verify record of ``lemma.grading.compare.math_verify_record``."""
    kind = task[0]
    if kind == "grade":
        _, mode, pred, gold = task
        if mode == "qwen_compat":
            return qwen_equal(pred[0] or "", gold[0] or ""), pred[0], None
        outcome = compare_answers(_unwire(pred), _unwire(gold))
        return outcome.correct, outcome.extracted, outcome.rule
    if kind == "math_verify":
        from lemma.grading.compare import math_verify_record

        return math_verify_record(*task[1:])
    raise ValueError(f"unknown grading task {kind!r}")


def _unwire(wire: tuple[str | None, bool, bool]) -> Answer:
    text, span, plain = wire
    return Answer(text, span=span, plain=plain)


class _ItemTimeout(BaseException):
    """Raised by the worker's interval timer. A BaseException so that sympy's and Math-Verify's ``except Exception``
    blocks cannot swallow it (Math-Verify's own TimeoutException is a BaseException for the same reason)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _ItemTimeout


def worker_main() -> None:
    """Worker process body (``python -c`` entry): read fds from argv, import Math-Verify, say 'ready', then answer
    (index, task, soft_s) messages with (index, status, value): status 'ok' (value: ``run_task``'s result), 'timeout'
    or 'error' (value: text). Exits when the parent closes its end of the pipe.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business; it will close us
    inbox = Connection(int(sys.argv[1]), writable=False)
    outbox = Connection(int(sys.argv[2]), readable=False)
    configs()
    signal.signal(signal.SIGALRM, _on_alarm)
    outbox.send("ready")
    while True:
        try:
            msg = inbox.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index, task, soft_s = msg
        status, value = _run_guarded(task, soft_s)
        try:
            outbox.send((index, status, value))
        except (BrokenPipeError, OSError):
            return


def _run_guarded(task: Task, soft_s: float) -> tuple[str, Any]:
    try:
        signal.setitimer(signal.ITIMER_REAL, soft_s)
        try:
            return "ok", run_task(task)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _ItemTimeout:
        return "timeout", None
    except BaseException as exc:  # noqa: BLE001 - Math-Verify's TimeoutException, RecursionError, ... all score False
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return "error", f"{type(exc).__name__}: {str(exc)[:200]}"


@dataclass
class _Slot:
    proc: subprocess.Popen[bytes]
    inbox: Connection  # parent -> worker
    outbox: Connection  # worker -> parent
    ready: bool = False
    task: int | None = None
    deadline: float = math.inf


_WORKER_CODE = "from lemma.grading.pool import worker_main; worker_main()"


def _start_worker(start_limit_s: float) -> _Slot:
    """A fresh ``python -c`` worker talking over two pipes.

    Not ``multiprocessing``: its spawn/forkserver methods re-import the parent's ``__main__`` in the child (a pipeline
    script without a main guard would run again; code from stdin fails), and fork is unsafe next to CUDA threads.
    """
    p2c_r, p2c_w = os.pipe()
    c2p_r, c2p_w = os.pipe()
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE, str(p2c_r), str(c2p_w)],
            pass_fds=(p2c_r, c2p_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=env,
        )
    finally:
        os.close(p2c_r)
        os.close(c2p_w)
    return _Slot(
        proc=proc,
        inbox=Connection(p2c_w, readable=False),
        outbox=Connection(c2p_r, writable=False),
        deadline=time.monotonic() + start_limit_s,
    )


def _stop_worker(slot: _Slot) -> None:
    if slot.proc.poll() is None:
        slot.proc.kill()
    slot.proc.wait(timeout=10)
    slot.inbox.close()
    slot.outbox.close()


class WorkerPool:
    """Worker processes with one task each at a time, so that a stuck task can be killed on its own.

    ``concurrent.futures.ProcessPoolExecutor`` cannot kill one stuck worker (killing it breaks the whole pool), and
    pebble is not available, hence this small dispatcher over pipes.
    """

    _START_LIMIT_S = 120.0
    _MAX_FAILED_STARTS = 3

    def __init__(self, soft_s: float, hard_s: float) -> None:
        self._soft_s = soft_s
        self._hard_s = hard_s
        self._failed_starts = 0
        self._slots: list[_Slot] = []

    def grow(self, workers: int) -> None:
        """Start workers up to ``workers`` in total (they import Math-Verify in parallel)."""
        while len(self._slots) < workers:
            self._slots.append(_start_worker(self._START_LIMIT_S))

    def _replace(self, slot: _Slot) -> None:
        _stop_worker(slot)
        fresh = _start_worker(self._START_LIMIT_S)
        slot.proc, slot.inbox, slot.outbox = fresh.proc, fresh.inbox, fresh.outbox
        slot.ready, slot.task, slot.deadline = False, None, fresh.deadline

    def run(self, tasks: Sequence[Task]) -> list[tuple[str, Any]]:
        """Run tasks (see ``run_task``); returns (status, value) per task, in order."""
        results: list[tuple[str, Any] | None] = [None] * len(tasks)
        pending = deque(range(len(tasks)))
        remaining = len(tasks)
        while remaining:
            self._dispatch(pending, tasks)
            wait_s = max(0.0, min(s.deadline for s in self._slots) - time.monotonic())
            for conn in wait([s.outbox for s in self._slots], timeout=wait_s):
                slot = next(s for s in self._slots if s.outbox is conn)
                remaining -= self._receive(slot, results)
            remaining -= self._expire(results)
        return [r if r is not None else ("error", "lost") for r in results]

    def _dispatch(self, pending: deque[int], tasks: Sequence[Task]) -> None:
        for slot in self._slots:
            if slot.ready and slot.task is None and pending:
                index = pending.popleft()
                slot.task, slot.deadline = index, time.monotonic() + self._hard_s
                try:
                    slot.inbox.send((index, tasks[index], self._soft_s))
                except OSError:  # died while idle; _receive sees the EOF and reports the task
                    pass

    def _receive(self, slot: _Slot, results: list[Any]) -> int:
        """Handle one message from ``slot``; returns how many tasks finished (0 or 1)."""
        try:
            msg = slot.outbox.recv()
        except (EOFError, OSError):  # the worker died (OOM kill, a crash in a C extension, ...)
            return self._worker_died(slot, results)
        if msg == "ready":
            slot.ready, slot.deadline = True, math.inf
            self._failed_starts = 0
            return 0
        index, status, value = msg
        results[index] = (status, value)
        slot.task, slot.deadline = None, math.inf
        return 1

    def _note_failed_start(self) -> None:
        self._failed_starts += 1
        if self._failed_starts >= self._MAX_FAILED_STARTS:
            raise RuntimeError("grader workers fail to start (is math-verify installed for sys.executable?)")

    def _worker_died(self, slot: _Slot, results: list[Any]) -> int:
        task = slot.task
        if not slot.ready:
            self._note_failed_start()
        self._replace(slot)
        if task is None:
            return 0
        results[task] = ("error", "grader worker died")
        return 1

    def _expire(self, results: list[Any]) -> int:
        """Kill and replace every worker past its deadline; its task times out. Returns tasks finished."""
        now = time.monotonic()
        finished = 0
        for slot in self._slots:
            if slot.deadline > now:
                continue
            if slot.task is None:  # start-up took longer than the start limit
                self._note_failed_start()
            else:
                results[slot.task] = ("timeout", None)
                finished += 1
            self._replace(slot)
        return finished

    def close(self) -> None:
        for slot in self._slots:
            try:
                slot.inbox.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 0.2  # workers hold no state worth a slow interpreter shutdown
        for slot in self._slots:
            try:
                slot.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _stop_worker(slot)
        self._slots = []
