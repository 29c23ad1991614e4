"""`teacher.dry_run=true`: count the requests a run would still send and price them, sending nothing.

The paper's synthesis is about 100,000 GPT-4o calls; a user should know the bill before paying it. A dry run walks
the pipeline as far as it can without spending: stages already built are reused, teacher stages whose every request
is cached are rebuilt from the cache (free), and the first teacher job with requests that are *not* cached stops
the run with the count and an estimate. Later teacher stages cannot be counted: their requests are built from this
job's replies. A stage that needs the student, training or evaluation also stops a dry run (it would spend GPU
hours), naming the stage to run first.

The estimate prices the prompts (tokens estimated from characters, deliberately high) plus, per reply, the mean
output tokens of this job's cached replies when there are any, else `TYPICAL_OUTPUT_TOKENS`; the worst case assumes
every reply uses `teacher.max_tokens`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lemma.errors import LemmaError

TYPICAL_OUTPUT_TOKENS = 400  # a LEMMA teacher reply: a label sentence, a step number, or one rewritten solution


class DryRunStop(LemmaError):
    """Not a failure: the dry run reached the first point where the run would spend money or GPU time."""

    exit_code = 0

    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary

    @property
    def headline(self) -> str:
        return "dry run finished"


@dataclass(frozen=True)
class DryRunEstimate:
    job: str
    model: str
    to_send: int
    cached: int
    prompt_tokens: int
    output_tokens_per_reply: float
    output_basis: str  # where the per-reply output estimate comes from
    max_tokens: int
    input_per_mtok: float
    output_per_mtok: float
    remote: bool

    @property
    def expected_usd(self) -> float:
        out = self.output_tokens_per_reply * self.to_send
        return (self.prompt_tokens * self.input_per_mtok + out * self.output_per_mtok) / 1e6

    @property
    def worst_usd(self) -> float:
        return (self.prompt_tokens * self.input_per_mtok + self.max_tokens * self.to_send * self.output_per_mtok) / 1e6

    def summary(self, budget: dict | None = None) -> str:
        lines = [f"dry run: teacher job '{self.job}' would send {self.to_send:,} request(s) to {self.model} "
                 f"({self.cached:,} already answered in the cache)."]
        if self.remote:
            lines.append(f"  estimated cost: ${self.expected_usd:,.2f} ({self.prompt_tokens:,} prompt tokens, "
                         f"~{self.output_tokens_per_reply:,.0f} output tokens per reply from {self.output_basis}; "
                         f"prices ${self.input_per_mtok}/${self.output_per_mtok} per 1M tokens in/out); "
                         f"worst case ${self.worst_usd:,.2f} (every reply {self.max_tokens} tokens).")
        else:
            lines.append("  local model: no money is spent, but every request runs on this machine's GPUs.")
        if budget and budget.get("max_cost_usd") is not None:
            lines.append(f"  budget: ${budget['spent_total_usd']:,.2f} spent so far of teacher.max_cost_usd="
                         f"${budget['max_cost_usd']:,.2f} (${budget['remaining_usd']:,.2f} remaining).")
        elif budget:
            lines.append(f"  spent so far through this cache: ${budget['spent_total_usd']:,.2f} "
                         "(no teacher.max_cost_usd cap set).")
        lines.append("  Later teacher stages are built from these replies and cannot be counted before they exist. "
                     "Nothing was sent; rerun without teacher.dry_run=true to send them.")
        return "\n".join(lines)


def estimate(job: str, model: str, prompt_tokens: Sequence[int], cached_output_tokens: Sequence[int], cached: int,
             max_tokens: int, input_per_mtok: float, output_per_mtok: float, remote: bool) -> DryRunEstimate:
    if cached_output_tokens:
        per_reply = sum(cached_output_tokens) / len(cached_output_tokens)
        basis = f"{len(cached_output_tokens)} cached replies of this job"
    else:
        per_reply = float(min(TYPICAL_OUTPUT_TOKENS, max_tokens))
        basis = "a typical teacher reply (no cached reply of this job yet)"
    return DryRunEstimate(job, model, len(prompt_tokens), cached, int(sum(prompt_tokens)), per_reply, basis,
                          max_tokens, input_per_mtok, output_per_mtok, remote)
