"""From calls to replies: cache first, then the backend, with budget, rate limits, retries and counters.

This is the part the original lacked entirely (METHOD.md §10, defect 10: blocking calls, no caching, no accounting):
- every call is looked up in the request cache; identical calls in one batch are sent once;
- remote calls run concurrently under the limiter (semaphore, RPM/TPM buckets, bounded retries, circuit breaker);
- each reply is stored in the cache *before* it is returned, so a kill at any moment loses only unanswered calls;
- a condition that must stop the stage (budget, open circuit, bad key) stops admitting new calls, lets the calls
  already in flight finish and get cached, then raises;
- with `progress` set (lemma.progress), every cache hit and every finished call is counted as it happens;
- with `dry_run` set, a batch with uncached calls sends nothing and stops with their count and an estimated cost
  (lemma.teacher.dry_run).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from lemma.teacher.accounting import Ledger, estimate_tokens
from lemma.teacher.base import Messages, Reply, Sampling, TeacherUsage
from lemma.teacher.cache import RequestCache, request_key
from lemma.teacher.dry_run import DryRunStop, estimate
from lemma.teacher.limiter import AttemptLog, Limiter, PermanentError, TeacherStopped, TransientError

SEED_STRIDE = 1000  # per-request seed = teacher.seed + SEED_STRIDE * draw + attempt


@dataclass(frozen=True)
class Call:
    job: str
    messages: Messages
    sample: tuple[int, int] = (0, 0)  # (draw, attempt): re-asks and extra draws are distinct cache entries


class Engine:
    def __init__(self, backend: Any, cache: RequestCache, ledger: Ledger, usage: TeacherUsage,
                 temperature: float, top_p: float, max_tokens: int, seed: int | None,
                 limiter: Limiter | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.ledger = ledger
        self.usage = usage
        self.temperature, self.top_p, self.max_tokens, self.seed = temperature, top_p, max_tokens, seed
        self.limiter = limiter
        self._stop: TeacherStopped | None = None
        self.progress: Any = None  # a lemma.progress.Progress while a job runs (set by LLMTeacher)
        self.dry_run = False

    def sampling(self, call: Call) -> Sampling:
        draw, attempt = call.sample
        seed = None if self.seed is None else self.seed + SEED_STRIDE * draw + attempt
        return Sampling(self.temperature, self.top_p, self.max_tokens, seed)

    def key(self, call: Call) -> str:
        settings = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
                    "seed": self.seed}
        return request_key(self.backend.name, self.backend.model, call.messages, settings, call.sample)

    async def complete(self, calls: list[Call]) -> list[Reply | str]:
        """One reply per call, or a failure reason (e.g. "request_failed_timeout") when retries ran out."""
        self._stop = None
        keys = [self.key(c) for c in calls]
        results: list[Reply | str | None] = [None] * len(calls)
        pending: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if key not in pending else None
            if hit is not None:
                results[i] = hit
                self.usage.cache_hits += 1
            else:
                if key in pending:
                    self.usage.cache_hits += 1  # answered by the identical call sent in this batch
                pending.setdefault(key, []).append(i)
        todo = [(key, calls[idx[0]]) for key, idx in pending.items()]
        if self.progress is not None:
            self.progress.skip(len(calls) - len(todo))
        if self.dry_run and todo:
            self._stop_dry_run(todo, [r for r in results if isinstance(r, Reply)])
        answers = await (self._remote(todo) if self.backend.remote else self._local(todo))
        for (key, _), answer in zip(todo, answers):
            for i in pending[key]:
                results[i] = answer
        if self._stop is not None:
            raise self._stop
        return [r if r is not None else "stopped" for r in results]

    # ------------------------------------------------------------------------------------------------ remote
    async def _remote(self, todo: list[tuple[str, Call]]) -> list[Reply | str]:
        if not todo:
            return []
        async with self.backend:
            return list(await asyncio.gather(*(self._one(key, call) for key, call in todo)))

    async def _one(self, key: str, call: Call) -> Reply | str:
        if self.limiter is None:
            raise ValueError("a remote teacher backend needs a Limiter")
        sampling, prompt_tokens = self.sampling(call), estimate_tokens(call.messages)
        reservation: list[float] = []
        log = AttemptLog()

        async def send() -> Reply:
            if self._stop is not None:
                raise self._stop
            if not reservation:  # first attempt: admit against the budget, count the request once
                reservation.append(self.ledger.reserve(prompt_tokens, sampling.max_tokens))
                self.usage.requests += 1
            return await self.backend.send(call.messages, sampling)

        failure = "stopped"
        try:  # progress counts the call when it ends, however it ends
            reply = await self.limiter.call(send, prompt_tokens + sampling.max_tokens, log,
                                            used_tokens=lambda r: r.input_tokens + r.output_tokens)
        except TeacherStopped as exc:
            self._stop = self._stop or exc
        except (TransientError, PermanentError) as exc:
            failure = f"request_failed_{exc.kind}"
        else:
            self._store(key, call, sampling, reply, reservation[0])
            return reply
        finally:
            self._count(log)
            if self.progress is not None:
                self.progress.advance()
        if reservation:
            self.ledger.release(reservation[0])
        return failure

    def _count(self, log: AttemptLog) -> None:
        self.usage.retries += log.retries
        self.usage.rate_limited += log.events.get("rate_limited", 0)
        self.usage.server_errors += log.events.get("server_error", 0)
        self.usage.timeouts += log.events.get("timeout", 0)
        self.usage.connection_errors += log.events.get("connection", 0)

    # ------------------------------------------------------------------------------------------------- local
    async def _local(self, todo: list[tuple[str, Call]]) -> list[Reply | str]:
        out: list[Reply | str] = []
        for start in range(0, len(todo), self.backend.chunk_size):
            chunk = todo[start:start + self.backend.chunk_size]
            samplings = [self.sampling(call) for _, call in chunk]
            replies = self.backend.generate([call.messages for _, call in chunk], samplings)
            for (key, call), sampling, reply in zip(chunk, samplings, replies):
                self.usage.requests += 1
                self._store(key, call, sampling, reply, 0.0)
                out.append(reply)
            if self.progress is not None:
                self.progress.advance(len(chunk))
        return out

    def _stop_dry_run(self, todo: list[tuple[str, Call]], cached: list[Reply]) -> None:
        """Raise DryRunStop with the count and price of the calls that would be sent."""
        prices = self.ledger.prices
        guess = estimate(todo[0][1].job, str(self.backend.model), [estimate_tokens(c.messages) for _, c in todo],
                         [r.output_tokens for r in cached if r.output_tokens], len(cached), self.max_tokens,
                         prices.input_per_mtok, prices.output_per_mtok, bool(self.backend.remote))
        raise DryRunStop(guess.summary(self.ledger.status()))

    def _store(self, key: str, call: Call, sampling: Sampling, reply: Reply, reservation: float) -> None:
        request = {"backend": self.backend.name, "model": self.backend.model, "job": call.job,
                   "messages": call.messages, "sampling": sampling.as_dict(), "sample": list(call.sample)}
        self.cache.put(key, request, reply)  # before the reply is used by anyone
        self.ledger.settle(call.job, reservation, reply)
