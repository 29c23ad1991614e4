"""teacher.rpm spreads requests evenly from the first one: hosted APIs enforce RPM per second, not per minute.

With a minute's worth of burst, 64 concurrent requests hit a 600-RPM endpoint in the same second, 54 come back
429, and 25 of those in a row open the circuit breaker (measured against the realistic fake endpoint of
benchmarks/bench_teacher.py). Paced from the start (one request every 60/rpm seconds), no one-second window sees
more than the limit's per-second share.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from lemma.teacher.cache import Reply
from lemma.teacher.limiter import AttemptLog, CircuitBreaker, Limiter, RetryPolicy, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def test_rpm_limited_requests_never_exceed_a_seconds_share():
    clock = Clock()
    limiter = Limiter(64, RetryPolicy(0), CircuitBreaker(25, "x"), rpm=600, sleep=clock.sleep)
    built = limiter.requests
    limiter.requests = TokenBucket(600, clock=clock, sleep=clock.sleep, burst_s=1.0, initial=1.0)  # as built
    assert (built.capacity, built.tokens) == (limiter.requests.capacity, limiter.requests.tokens)
    sent: list[float] = []

    async def send() -> Reply:
        sent.append(clock.now)
        return Reply("x")

    async def run() -> None:
        await asyncio.gather(*(limiter.call(send, 1, AttemptLog()) for _ in range(64)))

    asyncio.run(run())
    per_second = Counter(int(t + 1e-9) for t in sent)
    assert len(sent) == 64 and max(per_second.values()) <= 10, per_second
    assert clock.now < 6.5  # 64 requests at 10/s: paced, not slowed further


def test_the_request_bucket_starts_paced_and_holds_one_seconds_worth():
    bucket = Limiter(8, RetryPolicy(0), CircuitBreaker(25, "x"), rpm=600).requests
    assert bucket.capacity == 10 and bucket.tokens == 1  # 600/min: one at once at start, at most 10 after a pause
    assert TokenBucket(600).capacity == 600  # other buckets (TPM) keep a minute's worth
