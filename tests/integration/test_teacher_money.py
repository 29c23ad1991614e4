"""Money across runs: the spend ledger beside the request cache, the dry run, and progress while a job runs.

Against the loopback OpenAI server (tests/fakes/openai_server.py), with made-up prices high enough that a handful
of requests matter. The server bills prompt_chars // 4 input and len(reply) // 4 output tokens.
"""

from __future__ import annotations

import json
import logging

import pytest

from lemma.teacher.accounting import BudgetExceeded
from lemma.teacher.base import LocateRequest
from lemma.teacher.dry_run import DryRunStop
from lemma.teacher.llm import LLMTeacher
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.teacher_chain import gsm8k_problems, teacher_config

pytestmark = pytest.mark.integration
PRICES = {"price_input_per_mtok": 1000.0, "price_output_per_mtok": 1000.0, "max_tokens": 200}  # $0.001 per token


@pytest.fixture(scope="module")
def problems():
    return gsm8k_problems(20)


@pytest.fixture(autouse=True)
def _fake_key(monkeypatch):
    monkeypatch.setenv("LEMMA_FAKE_KEY", "sk-fake-money")


def _requests(problems, start: int, stop: int) -> list[LocateRequest]:
    return [LocateRequest(p, p.reference) for p in problems[start:stop]]


def _teacher(base_url: str, cache, **teacher) -> LLMTeacher:
    return LLMTeacher.from_config(teacher_config(base_url, **PRICES, **teacher), cache)


def test_cap_covers_every_run_sharing_the_cache(problems, tmp_path):
    cache = tmp_path / "cache"
    with FakeOpenAIServer(bank={}) as server:
        first = _teacher(server.base_url, cache, max_cost_usd=1000.0)
        assert all(o.ok for o in first.locate(_requests(problems, 0, 10)))
        spent_first = first.usage.cost_usd
        assert spent_first > 0
        # A rerun (or another sweep job) with a cap a little above what is already spent: the ledger beside the
        # cache remembers the first run, so the new requests stop at the cap instead of starting again from $0.
        # (One request in flight: on its own, this run's ten requests would fit under the cap.)
        cap = spent_first * 1.3
        second = _teacher(server.base_url, cache, max_cost_usd=cap, max_concurrency=1)
        with pytest.raises(BudgetExceeded) as info:
            second.locate(_requests(problems, 10, 20))
        answered = sum(server.stats.answered.values())
    ledger = json.loads((cache / "teacher" / "fake-gpt" / "spend.ledger").read_text())
    assert ledger["spent_usd"] == pytest.approx(spent_first + second.usage.cost_usd)
    assert ledger["spent_usd"] <= cap and ledger["requests"] == answered < 20
    assert ledger["in_flight"] == {}  # every reservation was settled or given back
    assert "every run and sweep job sharing it" in str(info.value)
    status = second.budget_status()
    assert status["spent_total_usd"] == pytest.approx(ledger["spent_usd"])
    assert status["remaining_usd"] == pytest.approx(cap - ledger["spent_usd"])


def test_dry_run_counts_the_uncached_requests_and_sends_nothing(problems, tmp_path):
    cache = tmp_path / "cache"
    with FakeOpenAIServer(bank={}) as server:
        assert all(o.ok for o in _teacher(server.base_url, cache).locate(_requests(problems, 0, 6)))
        sent_before = sum(server.stats.requests.values())
        dry = _teacher(server.base_url, cache, dry_run=True, max_cost_usd=50.0)
        with pytest.raises(DryRunStop) as info:
            dry.locate(_requests(problems, 0, 16))
        assert sum(server.stats.requests.values()) == sent_before  # nothing was sent
    text = info.value.summary
    assert "would send 10 request(s)" in text and "6 already answered" in text
    assert "estimated cost: $" in text and "worst case $" in text and "of teacher.max_cost_usd=$50.00" in text
    assert info.value.exit_code == 0
    print("\n" + text)


def test_dry_run_with_everything_cached_answers_from_the_cache(problems, tmp_path):
    cache = tmp_path / "cache"
    with FakeOpenAIServer(bank={}) as server:
        _teacher(server.base_url, cache).locate(_requests(problems, 0, 4))
        out = _teacher(server.base_url, cache, dry_run=True).locate(_requests(problems, 0, 4))
    assert all(o.ok for o in out)


def test_a_teacher_job_logs_progress_while_it_runs(problems, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="lemma.teacher.llm")
    with FakeOpenAIServer(latency_s=0.05, bank={}) as server:
        cfg = teacher_config(server.base_url, max_concurrency=2, **PRICES, max_cost_usd=100.0)
        cfg.pipeline.progress_interval_s = 0.1
        teacher = LLMTeacher.from_config(cfg, tmp_path / "cache")
        teacher.locate(_requests(problems, 0, 4))  # cached below: the progress lines count them as hits
        teacher.locate(_requests(problems, 0, 20))
    lines = [r.getMessage() for r in caplog.records if "/20 (" in r.getMessage()]
    assert len(lines) >= 3, lines
    assert all("cache hits 4" in line and "retries" in line and "tokens" in line and "ETA" in line for line in lines)
    assert "of $100.00" in lines[-1] and lines[-1].endswith("(finished)")
    print("\n" + "\n".join(lines))
