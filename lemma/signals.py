"""Signals stop the whole run: every child `run.py` started ends before the artifact lock is let go.

SLURM at a time limit or on preemption, `timeout`, a closed terminal and Ctrl-C send SIGTERM, SIGHUP or SIGINT to
`run.py`. Python's default for the first two is to die on the spot, which orphans the children: the training
launcher and its workers run in their own session (so that a terminal's Ctrl-C reaches only the driver) and kept
training into the artifact's work folder, re-parented to init, while the artifact's lock died with `run.py`, so a
rerun started a second training into the same folder. Here:

- `handle_stop_signals()` turns the first stop signal into a `RunInterrupted` exception in the main thread, so every
  `finally` runs (the training driver stops its launcher's session, engines and grader pools are closed);
- `stop_children()` then ends whatever is left: the whole process tree as it was before any signal was sent, plus
  every process of a session that lemma started (workers outlive their launcher and are re-parented), SIGTERM
  first, SIGKILL after `TERM_GRACE_S`, all within `TERM_GRACE_S + KILL_WAIT_S`;
- artifact locks are flock()s on files whose descriptors are handed to the training child, so the lock outlives
  `run.py` for exactly as long as that child does (even if `run.py` is SIGKILLed); where a child cannot be stopped
  at all, `keep_locks_until_gone` hands the lock to a small watcher that holds it until the process is gone, and the
  error names the process to end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lemma.errors import LemmaError

log = logging.getLogger(__name__)

STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGTERM", "SIGINT", "SIGHUP")) if s is not None)
TERM_GRACE_S = 5.0  # a child's chance to exit on SIGTERM (the trainer writes nothing half: checkpoints are atomic)
KILL_WAIT_S = 5.0  # after SIGKILL, how long until a process that is still there counts as unstoppable
POLL_S = 0.05

_sessions: set[int] = set()  # sessions (= their leader's pid) of children started with start_new_session=True
_markers: dict[int, str] = {}  # leader pid -> a string only its processes carry in their command line (the job file)
_lock_fds: dict[int, str] = {}  # file descriptors of the artifact locks this process holds -> what they lock
_stopping = threading.Event()


class RunInterrupted(LemmaError):
    """A stop signal reached run.py; raised in the main thread so every cleanup runs."""

    next_step = "rerun the same command to continue"

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"received {signal.Signals(signum).name}; every process the run started was stopped and "
                         "the artifact lock released")

    @property
    def headline(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name}"


class ChildrenNotStopped(LemmaError):
    """Some child survived SIGKILL (stuck in the kernel or a driver); the message names it and what to do."""


# ------------------------------------------------------------------------------------------------ signal handling
@contextlib.contextmanager
def handle_stop_signals() -> Iterator[None]:
    """Inside this block SIGTERM, SIGINT and SIGHUP raise RunInterrupted once; later ones are logged and ignored,
    so the cleanup they started is not itself cut short. Outside the main thread (a launcher's worker thread) it
    does nothing: only the main thread can receive Python signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stopping.clear()
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def on_signal(signum: int, frame: object) -> None:
        if _stopping.is_set():
            log.warning("%s received while stopping; still waiting for child processes (at most %.0f s)",
                        signal.Signals(signum).name, TERM_GRACE_S + KILL_WAIT_S)
            return
        _stopping.set()
        log.warning("%s received: stopping every process this run started", signal.Signals(signum).name)
        raise RunInterrupted(signum)

    for s in STOP_SIGNALS:
        signal.signal(s, on_signal)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def exit_now(code: int) -> None:
    """Flush the logs and standard streams, then end the process without the interpreter's teardown."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def stopping() -> bool:
    """True once a stop signal arrived (cleanup code can skip slow, optional work)."""
    return _stopping.is_set()


# ---------------------------------------------------------------------------------------------- the process table
@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    session: int
    state: str
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} ({self.command[:120]})"


def process_table() -> dict[int, Proc]:
    """Every process visible to us: /proc on Linux, `ps` elsewhere."""
    if os.path.isdir("/proc/self"):
        return _from_proc()
    return _from_ps()  # pragma: no cover - macOS


def _from_proc() -> dict[int, Proc]:
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                command = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(name)] = Proc(int(name), int(fields[1]), int(fields[3]), fields[0], command)
    return table


def _from_ps() -> dict[int, Proc]:  # pragma: no cover - macOS
    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,sess=,stat=,command="], capture_output=True, text=True)
    table = {}
    for line in out.stdout.splitlines():
        parts = line.split(None, 4)
        if len(parts) >= 4:
            pid, ppid, sess, state = int(parts[0]), int(parts[1]), int(parts[2]), parts[3][:1]
            table[pid] = Proc(pid, ppid, sess, state, parts[4] if len(parts) > 4 else "")
    return table


def descendants(root: int | None = None, table: dict[int, Proc] | None = None) -> list[Proc]:
    """Live descendants of `root` (default: this process), plus every process in a session lemma started."""
    root = os.getpid() if root is None else root
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, stack = {}, list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid not in found and pid != root:
            found[pid] = table[pid]
            stack.extend(children.get(pid, []))
    for proc in table.values():
        if proc.pid != root and (proc.session in _sessions or _carries_marker(proc, _markers.values())):
            found.setdefault(proc.pid, proc)
    return [p for p in found.values() if p.state not in ("Z", "X")]


def _carries_marker(proc: Proc, markers: Iterable[str]) -> bool:
    return any(m and m in proc.command for m in markers)


def track_session(leader_pid: int, marker: str | None = None) -> None:
    """Remember a child started in its own session: its processes are ours even after their parent died. Workers
    that a launcher puts in sessions of their own (torchrun does) are recognised by `marker`, e.g. the job file
    every one of them has on its command line."""
    _sessions.add(leader_pid)
    if marker:
        _markers[leader_pid] = marker


def untrack_session(leader_pid: int) -> None:
    """Forget a session whose processes all ended (its id may be reused by an unrelated process later)."""
    _sessions.discard(leader_pid)
    _markers.pop(leader_pid, None)


def _alive(pids: set[int]) -> list[Proc]:
    table = process_table()
    return [table[p] for p in pids if p in table and table[p].state not in ("Z", "X")]


def _send(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _wait_gone(pids: set[int], seconds: float) -> list[Proc]:
    deadline = time.monotonic() + seconds
    while True:
        alive = _alive(pids)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(POLL_S)


def stop_processes(procs: list[Proc], grace_s: float = TERM_GRACE_S, kill_wait_s: float = KILL_WAIT_S) -> list[Proc]:
    """SIGTERM, wait up to `grace_s`, SIGKILL, wait up to `kill_wait_s`; returns the processes still there."""
    pids = {p.pid for p in procs}
    if not pids:
        return []
    _send(pids, signal.SIGTERM)
    alive = _wait_gone(pids, grace_s)
    if not alive:
        return []
    log.warning("%d process(es) ignored SIGTERM for %.0f s; sending SIGKILL: %s", len(alive), grace_s,
                "; ".join(p.describe() for p in alive))
    _send({p.pid for p in alive}, signal.SIGKILL)
    return _wait_gone({p.pid for p in alive}, kill_wait_s)


def stop_session(leader_pid: int, grace_s: float = TERM_GRACE_S, kill_wait_s: float = KILL_WAIT_S) -> list[Proc]:
    """Stop every process of the session a child was started in (its launcher, its workers, their helpers)."""
    marker = [_markers.get(leader_pid, "")]
    members = [p for p in process_table().values() if p.state not in ("Z", "X")
               and (p.session == leader_pid or _carries_marker(p, marker))]
    members += [p for p in descendants(leader_pid) if p.pid not in {m.pid for m in members}]
    return stop_processes(members, grace_s, kill_wait_s)


def stop_children(grace_s: float = TERM_GRACE_S, kill_wait_s: float = KILL_WAIT_S) -> list[Proc]:
    """Stop every descendant of this process (and of the sessions it started); returns the survivors."""
    return stop_processes(descendants(), grace_s, kill_wait_s)


@contextlib.contextmanager
def children_stopped_on_failure(node: str, what: str) -> Iterator[None]:
    """Around one stage inside its artifact lock: if it fails or is interrupted, every process it started is ended
    before the lock is let go. A process that cannot be ended keeps the lock (a watcher holds it) and is named."""
    before = {p.pid for p in descendants()}
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, LemmaError) and exc.node is None:
            exc.node = node
        survivors = stop_processes([p for p in descendants() if p.pid not in before])
        if survivors:
            error = survivors_error(survivors, what, keep_locks_until_gone(survivors))
            error.node = node
            raise error from exc
        raise


# ------------------------------------------------------------------------------------------------------ the locks
def register_lock(fd: int, what: str) -> None:
    _lock_fds[fd] = what


def unregister_lock(fd: int) -> None:
    _lock_fds.pop(fd, None)


def held_lock_fds() -> tuple[int, ...]:
    """Descriptors of the artifact locks held now: a child that writes into the artifact inherits them, so the lock
    stays held while it runs, whatever happens to run.py."""
    return tuple(_lock_fds)


def lock_holders(path: str) -> list[Proc]:
    """Processes that have `path` open (Linux): who holds an artifact lock another run is waiting for."""
    if not os.path.isdir("/proc/self"):
        return []  # pragma: no cover
    target, table, holders = os.path.realpath(path), process_table(), []
    for pid, proc in table.items():
        with contextlib.suppress(OSError):
            if any(os.path.realpath(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd")):
                holders.append(proc)
    return holders


_KEEPER = ("import os, sys, time\n"
           "pids = [int(p) for p in sys.argv[1:]]\n"
           "def alive(p):\n"
           "    try:\n"
           "        with open(f'/proc/{p}/stat') as fh: return fh.read().rsplit(')', 1)[1].split()[0] not in 'ZX'\n"
           "    except OSError: return False\n"
           "while any(alive(p) for p in pids): time.sleep(2)\n")


def keep_locks_until_gone(survivors: list[Proc]) -> int | None:
    """Hand the held locks to a watcher process that keeps them until every survivor has exited; its pid."""
    fds = held_lock_fds()
    if not fds or not survivors:
        return None
    watcher = subprocess.Popen([sys.executable, "-c", _KEEPER, *(str(p.pid) for p in survivors)], pass_fds=fds,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    return watcher.pid


def survivors_error(survivors: list[Proc], what: str, watcher: int | None) -> ChildrenNotStopped:
    names = "; ".join(p.describe() for p in survivors)
    held = (f"The lock on {what} stays held (by watcher pid {watcher}) until they are gone, so no other run writes "
            "into the same artifact meanwhile." if watcher else "")
    return ChildrenNotStopped(
        f"could not stop {len(survivors)} child process(es) even with SIGKILL: {names}. {held} End them with "
        f"`kill -9 {' '.join(str(p.pid) for p in survivors)}`; a process that survives that is stuck in the kernel "
        "or a GPU driver (state D in `ps`), and only its device recovering, or a reboot, ends it")
