"""Rate limiting, retries and a circuit breaker for remote teacher endpoints.

The original client sent blocking calls one at a time per process, retried twice after a fixed 5 s sleep, had no rate
limit or jitter, and let an exception kill the worker with its question (METHOD.md §10, defect 10). Peer projects
show the other failure mode: unbounded 429 loops that made millions of retries (DESIGN.md §9, b9). So here:

- a semaphore bounds the requests in flight (`teacher.max_concurrency`);
- token buckets cap requests per minute and tokens per minute (`teacher.rpm`, `teacher.tpm`), charged with the
  worst case (prompt + max_tokens) and refunded with what the reply really used;
- each request is retried at most `teacher.max_retries` times on 429, 5xx, timeouts and dropped connections, with
  exponential backoff and full jitter, never sooner than the server's Retry-After;
- a circuit breaker opens after `teacher.circuit_breaker_failures` failed attempts in a row and stops the stage with
  a message that says what to check; answered requests are cached, so rerunning the same command resumes.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from lemma.errors import LemmaError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class TeacherStopped(LemmaError, RuntimeError):
    """A condition that must stop the whole stage (not one item): budget, broken endpoint, bad credentials."""


class CircuitOpen(TeacherStopped):
    pass


class TransientError(Exception):
    """A failed attempt worth retrying. `kind` names it for counting: rate_limited, server_error, timeout, connection."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after


class PermanentError(Exception):
    """A failed request that retrying cannot fix (e.g. HTTP 400): the item fails, the stage goes on."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def parse_retry_after(headers: dict[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `Retry-After` (seconds or an HTTP date); None if absent."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable hint: fall back to plain backoff
    return max(0.0, parsed.timestamp() - (time.time() if now is None else now))


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter (AWS architecture blog's 'Full Jitter'), floored by Retry-After."""
    max_retries: int = 6
    base_s: float = 1.0
    max_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Wait before retry number `retry` (0-based)."""
        jittered = self.rng.uniform(0.0, min(self.max_s, self.base_s * (2 ** retry)))
        if retry_after is None:
            return jittered
        # Honour the server's hint; spread the herd a little so waiters don't all return at once.
        return max(jittered, retry_after * (1.0 + self.rng.uniform(0.0, 0.2)))


class TokenBucket:
    """`rate_per_min` units per minute, holding at most `burst_s` seconds' worth (a full bucket allows that burst;
    one minute's worth by default, and never less than one unit); it starts full unless `initial` says otherwise."""

    def __init__(self, rate_per_min: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep, burst_s: float = 60.0, initial: float | None = None) -> None:
        if rate_per_min <= 0:
            raise ValueError(f"token bucket rate must be positive, got {rate_per_min}")
        self.capacity = max(1.0, float(rate_per_min) * burst_s / 60.0)
        self.rate = rate_per_min / 60.0
        self.tokens = self.capacity if initial is None else min(self.capacity, float(initial))
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, amount: float = 1.0) -> float:
        """Take `amount` (clamped to capacity, so one huge request cannot wait forever); returns what was taken."""
        amount = min(float(amount), self.capacity)
        while True:
            self._refill()
            if self.tokens >= amount:
                self.tokens -= amount
                return amount
            await self._sleep(max((amount - self.tokens) / self.rate, 1e-3))  # never a zero-length spin

    def refund(self, amount: float) -> None:
        self._refill()
        self.tokens = min(self.capacity, self.tokens + amount)


class CircuitBreaker:
    """Opens after `threshold` failed attempts in a row; any success closes the count again."""

    def __init__(self, threshold: int, endpoint: str) -> None:
        self.threshold = threshold
        self.endpoint = endpoint
        self.consecutive = 0
        self.last_error = ""

    def success(self) -> None:
        self.consecutive = 0

    def failure(self, error: str) -> None:
        self.consecutive += 1
        self.last_error = error
        self.check()

    def check(self) -> None:
        if self.threshold > 0 and self.consecutive >= self.threshold:
            raise CircuitOpen(
                f"teacher endpoint {self.endpoint} failed {self.consecutive} attempts in a row "
                f"(last: {self.last_error}); the stage stopped instead of retrying forever. Check that the server "
                "is up and that teacher.base_url and teacher.model are right; if it is rate limiting, lower "
                "teacher.max_concurrency or set teacher.rpm / teacher.tpm. Then rerun the same command: answered "
                "requests are cached and will not be sent again.")


@dataclass
class AttemptLog:
    """What one logical request went through: counted into TeacherUsage by the caller."""
    retries: int = 0
    events: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str) -> None:
        self.events[kind] = self.events.get(kind, 0) + 1


class Limiter:
    """Admission (semaphore + buckets) and retries around one request function."""

    def __init__(self, max_concurrency: int, policy: RetryPolicy, breaker: CircuitBreaker,
                 rpm: int | None = None, tpm: int | None = None, sleep: Sleep = asyncio.sleep) -> None:
        self.max_concurrency = max_concurrency
        self.policy = policy
        self.breaker = breaker
        # Hosted APIs enforce RPM over short windows (OpenAI: "60,000 RPM may be enforced as 1,000 per second"):
        # a minute's burst at start meets a wall of 429s, enough in a row to open the circuit breaker. So requests
        # start paced (one every 60/rpm s from the first on), and the bucket holds at most one second's worth, which
        # absorbs event-loop delays without bursting past a second's share (benchmarks/bench_teacher.py, realistic
        # endpoint; tests/unit/test_rpm_pacing.py).
        self.requests = TokenBucket(rpm, sleep=sleep, burst_s=1.0, initial=1.0) if rpm else None
        self.tokens = TokenBucket(tpm, sleep=sleep) if tpm else None
        self._sleep = sleep
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _slots(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()  # the teacher runs one event loop per batch
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop = asyncio.Semaphore(self.max_concurrency), loop
        return self._semaphore

    async def call(self, send: Callable[[], Awaitable[T]], token_estimate: int, log: AttemptLog,
                   used_tokens: Callable[[T], int] | None = None) -> T:
        """Run `send` with admission control and bounded retries; raises the last error when retries run out."""
        async with self._slots():
            for retry in range(self.policy.max_retries + 1):
                self.breaker.check()
                taken = await self._admit(token_estimate)
                try:
                    result = await send()
                except TransientError as exc:
                    log.note(exc.kind)
                    self.breaker.failure(str(exc))
                    if retry == self.policy.max_retries:
                        raise
                    log.retries += 1
                    await self._sleep(self.policy.delay(retry, exc.retry_after))
                    continue
                self.breaker.success()
                if self.tokens is not None and used_tokens is not None:
                    self.tokens.refund(max(0.0, taken - used_tokens(result)))
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _admit(self, token_estimate: int) -> float:
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None:
            return await self.tokens.acquire(token_estimate)
        return 0.0
