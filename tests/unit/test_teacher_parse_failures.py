"""Unparseable replies are not transport failures: counted apart, never trip the breaker, and stop a job that
mostly gets them with a message quoting one reply and naming the prompt file."""

from __future__ import annotations

import pytest

from lemma.errors import LemmaError
from lemma.records import Problem
from lemma.teacher.base import LocateRequest
from lemma.teacher.limiter import CircuitOpen, TransientError
from lemma.teacher.parse_guard import UnparseableReplies
from tests.fakes.scripted_backend import make_teacher

GSM = Problem("g1", "gsm8k", "Q?", "3 x 4 = 12.\nThe answer is: 12", "12")
OK = '{"verdict": "incorrect", "first_wrong_step": 1}'
UNSURE = "I am not sure how to answer that."


def _requests(n: int) -> list[LocateRequest]:
    return [LocateRequest(GSM, f"Step {i}: 3 x 4 = 13.") for i in range(n)]


def test_an_endpoint_that_answers_nonsense_stops_the_job_with_the_reply_and_the_prompt(tmp_path):
    teacher = make_teacher(tmp_path, lambda messages, sampling: UNSURE, breaker=3, max_reasks=2)
    with pytest.raises(UnparseableReplies) as err:
        teacher.locate(_requests(6))
    text = str(err.value)
    assert UNSURE in text and "lemma/prompts/locate/default.md" in text and "6 of 6 locate replies" in text
    assert "HTTP" not in text and "429" not in text  # not blamed on the network
    assert isinstance(err.value, LemmaError) and not isinstance(err.value, CircuitOpen)
    usage = teacher.usage
    assert usage.parse_failures == 6 * 3  # each item asked once and re-asked twice
    assert (usage.rate_limited, usage.server_errors, usage.timeouts, usage.connection_errors) == (0, 0, 0, 0)
    assert teacher.engine.limiter.breaker.consecutive == 0  # 18 unusable replies, breaker threshold 3: untouched


def test_a_few_unusable_replies_are_reported_not_fatal(tmp_path):
    def script(messages, sampling):
        return UNSURE if "Step 0:" in messages[0]["content"] else OK

    teacher = make_teacher(tmp_path, script, breaker=2, max_reasks=1)
    outcomes = teacher.locate(_requests(6))
    assert [o.ok for o in outcomes] == [False] + [True] * 5
    assert teacher.usage.failure_reasons and teacher.usage.parse_failures == 2


def test_transport_failures_still_open_the_breaker(tmp_path):
    teacher = make_teacher(tmp_path, lambda m, s: TransientError("rate_limited", "HTTP 429"), breaker=3,
                           max_retries=10)
    with pytest.raises(CircuitOpen, match="HTTP 429"):
        teacher.locate(_requests(2))
    assert teacher.usage.parse_failures == 0
