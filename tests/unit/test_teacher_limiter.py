"""Limiter: backoff honours Retry-After, RPM/TPM buckets pace requests, retries are bounded, the breaker opens."""

from __future__ import annotations

import asyncio
import random

import pytest

from lemma.records import Problem
from lemma.teacher.base import LocateRequest
from lemma.teacher.cache import Reply
from lemma.teacher.limiter import (AttemptLog, CircuitBreaker, CircuitOpen, Limiter, PermanentError, RetryPolicy,
                                   TokenBucket, TransientError, parse_retry_after)
from tests.fakes.scripted_backend import make_teacher

GSM = Problem("g1", "gsm8k", "Q?", "3 x 4 = 12.\nThe answer is: 12", "12")
OK = '{"verdict": "incorrect", "first_wrong_step": 1}'


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_parse_retry_after_forms():
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "1"}) == 0.25  # the finer hint wins
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after({}) is None and parse_retry_after({"retry-after": "soon"}) is None


def test_backoff_is_full_jitter_and_never_sooner_than_retry_after():
    policy = RetryPolicy(max_retries=6, base_s=1.0, max_s=8.0, rng=random.Random(0))
    for retry in range(6):
        delays = [policy.delay(retry) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= min(8.0, 2 ** retry)
        assert max(delays) > 0.5 * min(8.0, 2 ** retry)  # spread over the whole window (full jitter)
    hinted = [policy.delay(0, retry_after=3.0) for _ in range(200)]
    assert min(hinted) >= 3.0 and max(hinted) <= 3.6 and len(set(hinted)) > 100  # honoured, and de-synchronised


def test_limiter_waits_retry_after_then_succeeds():
    clock = FakeClock()
    attempts: list[int] = []

    async def send() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise TransientError("rate_limited", "HTTP 429", retry_after=5.0)
        return "ok"

    limiter = Limiter(4, RetryPolicy(6, 0.1, 60.0, random.Random(1)), CircuitBreaker(10, "x"), sleep=clock.sleep)
    log = AttemptLog()
    assert asyncio.run(limiter.call(send, 10, log)) == "ok"
    assert len(clock.sleeps) == 2 and all(s >= 5.0 for s in clock.sleeps)
    assert log.retries == 2 and log.events == {"rate_limited": 2}


def test_retries_are_bounded_and_permanent_errors_are_not_retried():
    clock = FakeClock()
    calls = {"transient": 0, "permanent": 0}

    async def transient() -> str:
        calls["transient"] += 1
        raise TransientError("server_error", "HTTP 500")

    async def permanent() -> str:
        calls["permanent"] += 1
        raise PermanentError("http_400", "HTTP 400")

    limiter = Limiter(4, RetryPolicy(3, 0.1, 1.0), CircuitBreaker(100, "x"), sleep=clock.sleep)
    with pytest.raises(TransientError):
        asyncio.run(limiter.call(transient, 1, AttemptLog()))
    with pytest.raises(PermanentError):
        asyncio.run(limiter.call(permanent, 1, AttemptLog()))
    assert calls == {"transient": 4, "permanent": 1}


def test_request_bucket_paces_to_rpm():
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock, sleep=clock.sleep)  # 1 per second after a burst of 60

    async def take(n: int) -> None:
        for _ in range(n):
            await bucket.acquire(1)

    asyncio.run(take(100))
    assert clock.now == pytest.approx(40.0, abs=0.01)  # 60 at once, then 40 more at 1/s


def test_token_bucket_charges_worst_case_refunds_the_rest_and_clamps_huge_requests():
    clock = FakeClock()
    bucket = TokenBucket(1000, clock=clock, sleep=clock.sleep)
    assert asyncio.run(bucket.acquire(5000)) == 1000  # clamped: a single huge request waits for a full bucket
    bucket.refund(700)
    assert bucket.tokens == pytest.approx(700)
    asyncio.run(bucket.acquire(900))  # needs 200 more: 200 / (1000/60) s
    assert clock.now == pytest.approx(12.0)


def test_tpm_limits_concurrent_requests_through_the_limiter():
    clock = FakeClock()
    limiter = Limiter(64, RetryPolicy(0), CircuitBreaker(10, "x"), tpm=600, sleep=clock.sleep)
    limiter.tokens = TokenBucket(600, clock=clock, sleep=clock.sleep)

    async def send() -> Reply:
        return Reply("x", "stop", 50, 50)  # really used 100 of the 300 charged

    async def run() -> None:
        await asyncio.gather(*(limiter.call(send, 300, AttemptLog(), used_tokens=lambda r: 100) for _ in range(8)))

    asyncio.run(run())
    # 8 x 300 charged, 8 x 200 refunded: much less waiting than 8 x 300 / (600/60) = 240 s without refunds
    assert 0 < clock.now < 120


def test_circuit_breaker_opens_and_says_what_to_do():
    breaker = CircuitBreaker(3, "http://127.0.0.1:9/v1")
    breaker.failure("HTTP 500")
    breaker.success()  # a success resets the run of failures
    breaker.failure("HTTP 500")
    breaker.failure("HTTP 503")
    with pytest.raises(CircuitOpen) as info:
        breaker.failure("timeout")
    message = str(info.value)
    assert "http://127.0.0.1:9/v1" in message and "3 attempts in a row" in message and "timeout" in message
    for hint in ("teacher.base_url", "teacher.max_concurrency", "teacher.rpm", "rerun", "cached"):
        assert hint in message


def test_open_circuit_stops_the_batch_and_keeps_answered_requests(tmp_path):
    """A dead endpoint stops the stage after `circuit_breaker_failures` attempts instead of retrying forever (b9)."""
    def script(messages, sampling):
        if "dead" in messages[0]["content"]:
            return TransientError("server_error", "HTTP 503")
        return OK

    teacher = make_teacher(tmp_path, script, max_retries=50, breaker=5)
    good = teacher.locate([LocateRequest(GSM, "Step one is fine.")])
    assert good[0].ok
    with pytest.raises(CircuitOpen):
        teacher.locate([LocateRequest(GSM, f"dead {i}.") for i in range(3)])
    sent = len(teacher.engine.backend.calls)
    assert sent <= 1 + 5 + 3  # bounded: nowhere near 3 x 51 attempts
    assert teacher.usage.server_errors >= 5


def test_exhausted_retries_fail_the_item_not_the_batch(tmp_path):
    def script(messages, sampling):
        return TransientError("timeout", "slow") if "slow" in messages[0]["content"] else OK

    teacher = make_teacher(tmp_path, script, max_retries=2, breaker=100)
    out = teacher.locate([LocateRequest(GSM, "slow step."), LocateRequest(GSM, "Fine step.")])
    assert out[0].failure == "request_failed_timeout" and out[1].ok
    assert teacher.usage.timeouts == 3 and teacher.usage.retries == 2
    assert teacher.usage.failure_reasons == {"request_failed_timeout": 1}
    assert teacher.usage.reasks == 0  # a failed request is not a malformed reply: no re-ask
