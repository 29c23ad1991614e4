"""Progress of long loops: a bar on a terminal, one log line per interval everywhere else.

The paper-scale run has steps that take hours (100k teacher calls, sampling 15k problems, grading 40k answers).
A stage that logs only when it finishes leaves a user, or a cluster log, silent for that long, unable to tell a
slow run from a stuck one. `Progress` reports done/total, rate and ETA plus whatever the caller adds (cache hits,
retries, tokens, dollars): on a TTY through tqdm, otherwise as a plain log line every `interval_s` seconds from a
small background thread, so a line appears even while nothing completes (a retry storm is then visible as retries
climbing while done stands still). Short loops stay quiet: the closing line is logged only when at least one
periodic line was.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

DEFAULT_INTERVAL_S = 30.0
log = logging.getLogger("lemma.progress")


def human_duration(seconds: float) -> str:
    """90 -> '1m30s', 5400 -> '1h30m': short enough for one log line."""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def human_count(n: float) -> str:
    """1234 -> '1,234'; 1_234_567 -> '1.23M' (token counts get long)."""
    if abs(n) >= 1e6:
        return f"{n / 1e6:.2f}M"
    return f"{int(n):,}"


class Progress:
    """Counts items of one long loop and reports them; use as a context manager or call close().

    `stats` returns extra text for each report (e.g. "cache hits 12 | $0.41"); `skip(n)` counts items that were
    done instantly (cache hits) without letting them inflate the rate the ETA is computed from.
    """

    def __init__(self, label: str, total: int, *, interval_s: float | None = None, unit: str = "items",
                 stats: Callable[[], str] | None = None, logger: logging.Logger | None = None,
                 tty: bool | None = None) -> None:
        self.label, self.total, self.unit = label, int(total), unit
        self.interval_s = DEFAULT_INTERVAL_S if interval_s is None else float(interval_s)
        self.stats = stats
        self.log = logger or log
        self.done = 0
        self.instant = 0  # done without work (cache hits): excluded from the rate
        self.lines = 0  # periodic lines logged
        self.start = time.monotonic()
        self._lock = threading.Lock()
        self._closed = False
        self._bar: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        use_tty = sys.stderr.isatty() if tty is None else tty
        if use_tty:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=label, unit=f" {unit}", dynamic_ncols=True, leave=False)
        elif self.interval_s > 0:
            self._thread = threading.Thread(target=self._ticker, name=f"progress-{label}", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------------------------------------- counting
    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
        if self._bar is not None:
            self._bar.update(n)
            if self.stats is not None:
                self._bar.set_postfix_str(self.stats(), refresh=False)

    def skip(self, n: int = 1) -> None:
        """`n` items finished without work (e.g. answered from the cache)."""
        with self._lock:
            self.instant += n
        self.advance(n)

    def add_total(self, n: int) -> None:
        """More work was discovered (e.g. re-asks after unusable replies)."""
        with self._lock:
            self.total += n
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    # ------------------------------------------------------------------------------------------------ reporting
    def rate(self) -> float:
        """Items per second of real work since the start."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        return max(0, self.done - self.instant) / elapsed

    def eta_s(self) -> float | None:
        rate = self.rate()
        remaining = self.total - self.done
        if remaining <= 0:
            return 0.0
        return remaining / rate if rate > 0 else None

    def line(self) -> str:
        """e.g. 'classify: 1,200/5,000 (24.0%) | 8.2 items/s | ETA 7m43s | cache hits 300 | $3.41'."""
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = self.eta_s()
        parts = [f"{self.label}: {self.done:,}/{self.total:,} ({pct:.1f}%)", f"{self.rate():.1f} {self.unit}/s",
                 f"elapsed {human_duration(time.monotonic() - self.start)}",
                 "ETA " + (human_duration(eta) if eta is not None else "?")]
        if self.stats is not None:
            extra = self.stats()
            if extra:
                parts.append(extra)
        return " | ".join(parts)

    def _ticker(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.lines += 1
            self.log.info("%s", self.line())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._bar is not None:
            self._bar.close()
        elif self.lines:
            self.log.info("%s (finished)", self.line())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VLLMProgressBar:
    """What vLLM's `use_tqdm=<callable>` needs from a bar, forwarding finished requests to a `Progress`.

    vLLM calls the factory twice per generate: once around the prompts being added (an iterable, passed through
    untouched) and once with `total=` for finished requests, where it calls update() once per finished request
    (with 1 or with the request's number of samples, depending on the version: so each call counts as one request,
    `per_update` sequences), sets `postfix` and divides by `format_dict["elapsed"]` (so elapsed must never be 0,
    unlike a disabled tqdm's).
    """

    def __init__(self, progress: Progress, iterable: Any = None, *, per_update: int = 1, **_: Any) -> None:
        self.progress, self.iterable, self.per_update = progress, iterable, per_update
        self.n, self.postfix = 0, ""
        self._start = time.monotonic()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable if self.iterable is not None else ())

    def __len__(self) -> int:
        return len(self.iterable) if self.iterable is not None else 0

    @property
    def format_dict(self) -> dict[str, Any]:
        return {"elapsed": max(time.monotonic() - self._start, 1e-6), "n": self.n}

    def update(self, n: int = 1) -> None:
        if self.iterable is None:  # the "Adding requests" pass only iterates
            self.n += 1
            self.progress.advance(self.per_update)

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *a, **k: None  # set_postfix, set_description, refresh, close, ...

    @classmethod
    def factory(cls, progress: Progress, per_update: int = 1) -> Callable[..., VLLMProgressBar]:
        return lambda *args, **kwargs: cls(progress, *args, per_update=per_update, **kwargs)


class ProgressGrader:
    """A grader that reports progress: grades in chunks, advancing `progress` after each.

    Used by stages around lemma.grading.Grader, which grades a whole list in one call; chunks of a few hundred
    keep its worker pool busy while the log shows how far a 40k-answer grading pass is.
    """

    def __init__(self, grader: Any, progress: Progress, chunk: int = 512) -> None:
        self.grader, self.progress, self.chunk = grader, progress, max(1, chunk)

    def grade(self, predictions: Sequence[str], golds: Sequence[str], **kwargs: Any) -> list[Any]:
        """Each call adds its items to the total: evaluation grades twice (and first attempts) per benchmark."""
        self.progress.add_total(len(predictions))
        out: list[Any] = []
        for start in range(0, len(predictions), self.chunk):
            out += self.grader.grade(predictions[start:start + self.chunk], golds[start:start + self.chunk], **kwargs)
            self.progress.advance(min(self.chunk, len(predictions) - start))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.grader, name)  # timeouts, errors, extract, close, ...
