"""LLMTeacher: the six LEMMA teacher jobs on an LLM (any OpenAI-compatible endpoint, vLLM, or transformers).

Each batch method renders one prompt per request (lemma.teacher.jobs), sends them all through the engine (cache,
limiter, budget; lemma.teacher.engine) in one event loop, validates every reply, and re-asks the items whose reply was
unusable, up to `teacher.max_reasks` times. A re-ask is the same prompt with the next sample index (a new cache
entry and, with `teacher.seed` set, a new seed). Items that still fail come back as `Outcome(failure=reason)` and are
counted in `usage.failure_reasons`; only conditions that concern the whole stage (budget, open circuit, bad
credentials) raise `TeacherStopped`. This replaces the original's blocking per-process client whose exceptions
killed workers and lost questions (METHOD.md §10, defects 6, 10, 11).

Each job reports progress while it runs (lemma.progress: done/total, cache hits, retries, re-asks, tokens, dollars
of this job and in total against `teacher.max_cost_usd`, ETA), and its spend goes into the ledger beside the
request cache (lemma.teacher.ledger), so the cap holds across reruns and sweep jobs.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lemma.engines import Engines
from lemma.taxonomy import ErrorType
from lemma.progress import Progress, human_count
from lemma.teacher import jobs
from lemma.teacher.accounting import Ledger, Prices
from lemma.teacher.backends import make_backend
from lemma.strategies import Strategy
from lemma.teacher.base import (ClassifyRequest, InjectRequest, Injection, Label, Location, LocateRequest, Outcome,
                                Reply, ReviseRequest, Revision, SmoothRequest, TeacherUsage)
from lemma.teacher.cache import RequestCache
from lemma.teacher.engine import Call, Engine
from lemma.teacher.ledger import SpendLedger
from lemma.teacher.limiter import CircuitBreaker, Limiter, RetryPolicy
from lemma.teacher.parse_guard import check_replies

log = logging.getLogger(__name__)


class LLMTeacher:
    def __init__(self, name: str, engine: Engine, prompt_set: str = "default", max_reasks: int = 2,
                 progress_interval_s: float | None = None) -> None:
        self.name = name
        self.progress_interval_s = progress_interval_s
        self.engine = engine
        self.model = engine.backend.model
        self.usage = engine.usage
        self.prompt_set = prompt_set
        self.max_reasks = max_reasks

    def __repr__(self) -> str:
        return f"LLMTeacher(name={self.name!r}, backend={self.engine.backend!r}, prompts={self.prompt_set!r})"

    @classmethod
    def from_config(cls, cfg: DictConfig, cache_dir: str | Path, engines: Engines | None = None) -> LLMTeacher:
        """Build from the composed config (`cfg.teacher`); nothing is loaded, imported or read from the env yet. A
        local model goes into `engines` (the run's, from Services), else into a registry of the backend's own."""
        t = cfg.teacher
        backend = make_backend(t, engines)
        usage = TeacherUsage()
        limiter = None
        if backend.remote:
            policy = RetryPolicy(int(t.max_retries), float(t.backoff_base_s), float(t.backoff_max_s),
                                 random.Random(cfg.seed))
            limiter = Limiter(int(t.max_concurrency), policy,
                              CircuitBreaker(int(t.circuit_breaker_failures), backend.endpoint),
                              rpm=t.rpm, tpm=t.tpm)
        cache = RequestCache(Path(cache_dir), str(t.model))
        ledger = Ledger(usage, Prices(float(t.price_input_per_mtok), float(t.price_output_per_mtok)),
                        None if t.max_cost_usd is None else float(t.max_cost_usd), spend=SpendLedger.beside(cache.dir))
        engine = Engine(backend, cache, ledger, usage, float(t.temperature),
                        float(t.top_p), int(t.max_tokens), None if t.seed is None else int(t.seed), limiter)
        engine.dry_run = bool(t.get("dry_run", False))
        interval = OmegaConf.select(cfg, "pipeline.progress_interval_s")
        return cls(str(t.name), engine, str(t.prompts), int(t.max_reasks),
                   None if interval is None else float(interval))

    @property
    def injectable_types(self) -> frozenset[ErrorType]:
        return jobs.injectable_types(self.prompt_set)

    # ------------------------------------------------------------------------------------------------- jobs
    def classify(self, requests: list[ClassifyRequest]) -> list[Outcome[Label]]:
        return self._run("classify", [jobs.classify_prompt(self.prompt_set, r.problem, r.solution) for r in requests])

    def locate(self, requests: list[LocateRequest]) -> list[Outcome[Location]]:
        return self._run("locate", [jobs.locate_prompt(self.prompt_set, r.problem, r.solution) for r in requests])

    def inject(self, requests: list[InjectRequest]) -> list[Outcome[Injection]]:
        return self._run("inject", [jobs.inject_prompt(self.prompt_set, r.problem, r.error_type, r.draw)
                                    for r in requests])

    def revise(self, strategy: Strategy, requests: list[ReviseRequest]) -> list[Outcome[Revision]]:
        """The prompt of `lemma/prompts/<strategy>/`. Fresh & Restart is reference-free (paper Fig. 15) unless a
        request carries `correct_solution` (the original's model-aware variant, `correction.fresh_variant`)."""
        job = str(Strategy(strategy))
        return self._run(job, [jobs.revise_prompt(job, self.prompt_set, r.problem, r.prefix, r.correct_solution)
                               for r in requests])

    def smooth(self, requests: list[SmoothRequest]) -> list[Outcome[str]]:
        return self._run("smooth", [jobs.smooth_prompt(self.prompt_set, r.problem, r.text) for r in requests])

    def budget_status(self) -> dict[str, Any]:
        """Spent so far through this cache (all runs), the cap and what remains: for manifests and the report."""
        return self.engine.ledger.status()

    @property
    def holds_gpu(self) -> bool:
        """True while a local backend (vLLM, transformers) has a model loaded."""
        return bool(getattr(self.engine.backend, "loaded", False))

    def release(self) -> None:
        """Shut down a local model and free its GPU memory; it is loaded again on the next request."""
        self.close()

    def close(self) -> None:
        closer = getattr(self.engine.backend, "close", None)
        if closer is not None:
            closer()

    # ---------------------------------------------------------------------------------------------- batches
    def _run(self, job: str, prompts: list[jobs.Prompt]) -> list[Outcome[Any]]:
        if not prompts:
            return []
        before = self.usage.snapshot()
        with self._progress(job, len(prompts), before) as progress:
            self.engine.progress = progress
            try:
                outcomes = asyncio.run(self._rounds(job, prompts))
            finally:
                self.engine.progress = None
        for outcome in outcomes:
            if not outcome.ok:
                self.usage.failures += 1
                self.usage.failure_reasons[outcome.failure or "unknown"] += 1
        self._log(job, outcomes, self.usage.since(before))
        check_replies(job, outcomes, self.model, _prompt_file(job, self.prompt_set), self.max_reasks)
        return outcomes

    async def _rounds(self, job: str, prompts: list[jobs.Prompt]) -> list[Outcome[Any]]:
        outcomes: list[Outcome[Any]] = [Outcome(failure="not_sent") for _ in prompts]
        todo = list(range(len(prompts)))
        for attempt in range(self.max_reasks + 1):
            if not todo:
                break
            if attempt:
                self.usage.reasks += len(todo)
                if self.engine.progress is not None:
                    self.engine.progress.add_total(len(todo))
            calls = [Call(job, prompts[i].messages, (prompts[i].draw, attempt)) for i in todo]
            replies = await self.engine.complete(calls)
            todo = [i for i, reply in zip(todo, replies) if self._settle(prompts[i], reply, outcomes, i)]
        return outcomes

    def _settle(self, prompt: jobs.Prompt, reply: Reply | str, outcomes: list[Outcome[Any]], i: int) -> bool:
        """Record the outcome of one reply; True when it was unusable and should be asked again."""
        if isinstance(reply, str):  # the request itself failed after its retries: re-asking would not help
            outcomes[i] = Outcome(failure=reply)
            return False
        outcome = (Outcome(failure="truncated_reply", raw=reply.text) if reply.finish_reason == "length"
                   else prompt.validate(reply.text))
        outcomes[i] = outcome
        if outcome.ok:
            return False
        self.usage.parse_failures += 1
        return True

    def _progress(self, job: str, total: int, before: TeacherUsage) -> Progress:
        """The job's progress reporter: cache hits, retries, re-asks, tokens and dollars so far, against the cap."""
        ledger = self.engine.ledger
        spent_before = ledger.status()["spent_total_usd"] if ledger.spend is not None else 0.0

        def stats() -> str:
            d = self.usage.since(before)
            money = f"${d['cost_usd']:.2f}"
            if ledger.spend is not None or ledger.max_cost_usd is not None:
                total_spent = spent_before + d["cost_usd"] if ledger.spend is not None else self.usage.cost_usd
                cap = f" of ${ledger.max_cost_usd:,.2f}" if ledger.max_cost_usd is not None else ""
                money += f" (total ${total_spent:,.2f}{cap})"
            return (f"cache hits {d['cache_hits']:,} | retries {d['retries']:,} | re-asks {d['reasks']:,} | "
                    f"tokens {human_count(d['input_tokens'])} in / {human_count(d['output_tokens'])} out | {money}")

        return Progress(f"{job} <teacher={self.model}>", total, interval_s=self.progress_interval_s, unit="req",
                        stats=stats, logger=log)

    def _log(self, job: str, outcomes: list[Outcome[Any]], delta: dict[str, Any]) -> None:
        ok = sum(o.ok for o in outcomes)
        reasons = f" {delta['failure_reasons']}" if delta["failure_reasons"] else ""
        log.info("%s: %d/%d ok, %d failed%s (requests %d, cache hits %d, retries %d, re-asks %d, tokens %d/%d, "
                 "$%.4f) <teacher=%s>", job, ok, len(outcomes), len(outcomes) - ok, reasons,
                 delta["requests"], delta["cache_hits"], delta["retries"], delta["reasks"], delta["input_tokens"],
                 delta["output_tokens"], delta["cost_usd"], self.model)


def _prompt_file(job: str, prompt_set: str) -> str:
    """The prompt file a job renders, relative to the package, for messages about its replies."""
    from lemma.prompts import PROMPT_DIR, prompt_path

    try:
        return str(prompt_path(job, prompt_set).relative_to(PROMPT_DIR.parent.parent))
    except (FileNotFoundError, ValueError):
        return f"lemma/prompts/{job}/{prompt_set}.md"
