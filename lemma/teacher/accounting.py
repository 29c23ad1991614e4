"""Token and cost accounting for teacher calls, and a budget cap that stops *before* it would be exceeded.

The original recorded no tokens and no cost (METHOD.md §10, defect 10). Here every reply's token counts go into the
shared `TeacherUsage` (the pipeline stores its per-stage difference in each manifest, next to the teacher's model), a
per-model price table from the teacher preset (`teacher.price_input_per_mtok`, `teacher.price_output_per_mtok`, USD
per million tokens) turns them into dollars, and `teacher.max_cost_usd` is enforced by reserving each request's worst
case (estimated prompt tokens + max_tokens) before it is sent. Requests already in flight have their worst case
reserved, so letting them finish never crosses the cap.

With a `SpendLedger` (lemma.teacher.ledger; LLM teachers always have one, beside their request cache) the cap
covers every run and sweep job that shares the cache, not only this process: reservations and settlements go
through that file, under a lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lemma.teacher.base import Reply, TeacherUsage
from lemma.teacher.ledger import SpendLedger
from lemma.teacher.limiter import TeacherStopped

CHARS_PER_TOKEN = 3.0  # deliberately low (real English/LaTeX is ~4): over-estimates keep the budget guard safe
TOKENS_PER_MESSAGE = 4


class BudgetExceeded(TeacherStopped):
    pass


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """A tokenizer-free upper estimate of a chat prompt's tokens (used for TPM buckets and the budget guard)."""
    chars = sum(len(m.get("content", "")) for m in messages)
    return int(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages) + 3


@dataclass(frozen=True)
class Prices:
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


@dataclass
class JobTotals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class Ledger:
    """Reserves worst-case cost before a request, settles the real cost after, and keeps per-job totals.

    `usage` and `by_job` count this process; `spend` (when given) is the persistent ledger the cap is checked
    against, so that reruns and concurrent sweep jobs share one budget.
    """
    usage: TeacherUsage
    prices: Prices = field(default_factory=Prices)
    max_cost_usd: float | None = None
    reserved: float = 0.0
    by_job: dict[str, JobTotals] = field(default_factory=dict)
    spend: SpendLedger | None = None

    def reserve(self, prompt_tokens: int, max_tokens: int) -> float:
        worst = self.prices.cost(prompt_tokens, max_tokens)
        if self.spend is not None and self.max_cost_usd is not None:  # holds matter only against a cap
            self.spend.reserve(worst, self.max_cost_usd,
                               lambda t: self._refusal(worst, prompt_tokens, max_tokens, t["spent_usd"],
                                                       t["in_flight_usd"], shared=True))
        elif self.max_cost_usd is not None and self.usage.cost_usd + self.reserved + worst > self.max_cost_usd:
            raise self._refusal(worst, prompt_tokens, max_tokens, self.usage.cost_usd, self.reserved, shared=False)
        self.reserved += worst
        return worst

    def _refusal(self, worst: float, prompt_tokens: int, max_tokens: int, spent: float, in_flight: float,
                 shared: bool) -> BudgetExceeded:
        where = (f"${spent:.4f} is spent on this teacher through the cache ({self.spend.path if self.spend else ''}, "
                 f"every run and sweep job sharing it; ${self.usage.cost_usd:.4f} of it in this run)" if shared
                 else f"${spent:.4f} is spent")
        return BudgetExceeded(
            f"teacher budget: the next request could cost up to ${worst:.4f} ({prompt_tokens} prompt tokens "
            f"estimated + {max_tokens} max_tokens), and {where} with ${in_flight:.4f} in flight, which could exceed "
            f"teacher.max_cost_usd=${self.max_cost_usd:.4f}. The stage stopped before sending it. Raise "
            "teacher.max_cost_usd (or lower teacher.max_tokens) and rerun: answered requests are cached and will "
            "not be paid for again.")

    def release(self, reservation: float) -> None:
        self.reserved = max(0.0, self.reserved - reservation)
        if self.spend is not None and self.max_cost_usd is not None and reservation:
            self.spend.release(reservation)

    def settle(self, job: str, reservation: float, reply: Reply) -> None:
        self.reserved = max(0.0, self.reserved - reservation)
        cost = self.prices.cost(reply.input_tokens, reply.output_tokens)
        self.usage.input_tokens += reply.input_tokens
        self.usage.output_tokens += reply.output_tokens
        self.usage.cost_usd += cost
        totals = self.by_job.setdefault(job, JobTotals())
        totals.requests += 1
        totals.input_tokens += reply.input_tokens
        totals.output_tokens += reply.output_tokens
        totals.cost_usd += cost
        if self.spend is not None:
            self.spend.settle(job, reservation, cost, reply.input_tokens, reply.output_tokens)

    def status(self) -> dict[str, Any]:
        """Spent so far (all runs sharing the ledger, or this run without one), the cap and what remains."""
        spent = float(self.spend.totals()["spent_usd"]) if self.spend is not None else self.usage.cost_usd
        remaining = None if self.max_cost_usd is None else round(max(0.0, self.max_cost_usd - spent), 6)
        return {"spent_total_usd": round(spent, 6), "max_cost_usd": self.max_cost_usd, "remaining_usd": remaining,
                "scope": "cache" if self.spend is not None else "run"}
