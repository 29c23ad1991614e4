"""Stop a teacher job whose replies mostly cannot be used: a prompt or model problem, not a network one.

Two kinds of failure are kept apart. *Transport* failures (429, 5xx, timeouts, dropped connections) are retried by
the limiter and counted by its circuit breaker, whose message talks about the endpoint. *Parse* failures are replies
that arrived but do not follow the prompt's output format ("I am not sure how to answer that."); they are re-asked
(`teacher.max_reasks`), counted in `usage.parse_failures` and by reason, and never touch the breaker: the endpoint
is fine. When most replies of a job still cannot be used after the re-asks, going on would spend the budget on
replies that are thrown away, so the job stops with a message that quotes one reply and names the prompt file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from lemma.teacher.limiter import TeacherStopped

STOP_SHARE = 0.5  # stop when more than this share of the answered replies is unusable...
MIN_REPLIES = 5  # ...and at least this many replies came back (a batch of 2 says little)
QUOTE_CHARS = 300


class UnparseableReplies(TeacherStopped):
    """Most replies of a teacher job did not follow the prompt's format; the message quotes one."""


def _unusable(outcome: Any) -> bool:
    """A reply that arrived but could not be used (a transport failure has no reply text)."""
    return outcome.failure is not None and bool(outcome.raw)


def check_replies(job: str, outcomes: Sequence[Any], model: str, prompt_file: str, max_reasks: int) -> None:
    """Raise UnparseableReplies when most answered replies of this job are unusable after their re-asks."""
    answered = [o for o in outcomes if o.ok or _unusable(o)]
    bad = [o for o in answered if _unusable(o)]
    if len(answered) < MIN_REPLIES or len(bad) <= STOP_SHARE * len(answered):
        return
    reasons = ", ".join(f"{reason} {n}" for reason, n in Counter(o.failure for o in bad).most_common())
    quote = bad[0].raw.strip().replace("\n", "\\n")
    if len(quote) > QUOTE_CHARS:
        quote = quote[:QUOTE_CHARS] + "..."
    raise UnparseableReplies(
        f"teacher {model}: {len(bad)} of {len(answered)} {job} replies could not be used, even after "
        f"{max_reasks} re-ask(s) each ({reasons}). One reply: \"{quote}\". The endpoint answers, so this is not a "
        f"network problem: the model does not follow the output format of the prompt {prompt_file}. Use a model "
        "that follows it (teacher.model), or a prompt set written for this model (teacher.prompts); a reply cut "
        "off by teacher.max_tokens counts as unusable too. Replies so far are cached; rerunning with the same "
        "model and prompt gets the same replies.")
