"""Token and cost accounting for teacher calls, and a budget cap that stops *before* it would be exceeded.

The original recorded no tokens and no cost (METHOD.md §10, defect 10). Here every reply's token counts go into the
shared `TeacherUsage` (the pipeline stores its per-stage difference in each manifest, next to the teacher's model), a
per-model price table from the teacher preset (`teacher.price_input_per_mtok`, `teacher.price_output_per_mtok`, USD
per million tokens) turns them into dollars, and `teacher.max_cost_usd` is enforced by reserving each request's worst
case (estimated prompt tokens + max_tokens) before it is sent. Requests already in flight have their worst case
reserved, so letting them finish never crosses the cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lemma.teacher.base import TeacherUsage
from lemma.teacher.cache import Reply
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
    """Reserves worst-case cost before a request, settles the real cost after, and keeps per-job totals."""
    usage: TeacherUsage
    prices: Prices = field(default_factory=Prices)
    max_cost_usd: float | None = None
    reserved: float = 0.0
    by_job: dict[str, JobTotals] = field(default_factory=dict)

    def reserve(self, prompt_tokens: int, max_tokens: int) -> float:
        worst = self.prices.cost(prompt_tokens, max_tokens)
        if self.max_cost_usd is not None and self.usage.cost_usd + self.reserved + worst > self.max_cost_usd:
            raise BudgetExceeded(
                f"teacher budget: the next request could cost up to ${worst:.4f} ({prompt_tokens} prompt tokens "
                f"estimated + {max_tokens} max_tokens), and ${self.usage.cost_usd:.4f} is spent with "
                f"${self.reserved:.4f} in flight, which could exceed teacher.max_cost_usd=${self.max_cost_usd:.4f}. "
                "The stage stopped before sending it. Raise teacher.max_cost_usd (or lower teacher.max_tokens) and "
                "rerun: answered requests are cached and will not be paid for again.")
        self.reserved += worst
        return worst

    def release(self, reservation: float) -> None:
        self.reserved = max(0.0, self.reserved - reservation)

    def settle(self, job: str, reservation: float, reply: Reply) -> None:
        self.release(reservation)
        cost = self.prices.cost(reply.input_tokens, reply.output_tokens)
        self.usage.input_tokens += reply.input_tokens
        self.usage.output_tokens += reply.output_tokens
        self.usage.cost_usd += cost
        totals = self.by_job.setdefault(job, JobTotals())
        totals.requests += 1
        totals.input_tokens += reply.input_tokens
        totals.output_tokens += reply.output_tokens
        totals.cost_usd += cost

    def estimate(self, prompts: list[list[dict[str, str]]], max_tokens: int) -> float:
        """Worst-case dollars for sending these prompts (a dry-run estimate; cached ones are not subtracted)."""
        return sum(self.prices.cost(estimate_tokens(m), max_tokens) for m in prompts)
