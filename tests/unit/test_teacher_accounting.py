"""Cost accounting and the budget cap: it stops *before* a request could push spending past teacher.max_cost_usd."""

from __future__ import annotations

import pytest

from lemma.records import Problem
from lemma.teacher.accounting import BudgetExceeded, Ledger, Prices, estimate_tokens
from lemma.teacher.base import LocateRequest, TeacherUsage
from lemma.teacher.cache import Reply
from tests.fakes.scripted_backend import make_teacher

GSM = Problem("g1", "gsm8k", "Q?", "3 x 4 = 12.\nThe answer is: 12", "12")
OK = Reply('{"verdict": "incorrect", "first_wrong_step": 1}', "stop", 1000, 100)
PRICES = Prices(input_per_mtok=2.5, output_per_mtok=10.0)  # GPT-4o list prices


def test_prices_and_settlement_per_job():
    usage = TeacherUsage()
    ledger = Ledger(usage, PRICES)
    assert PRICES.cost(1_000_000, 0) == 2.5 and PRICES.cost(0, 1_000_000) == 10.0
    reservation = ledger.reserve(1000, 4096)
    assert reservation == pytest.approx((1000 * 2.5 + 4096 * 10) / 1e6) and ledger.reserved == reservation
    ledger.settle("locate", reservation, OK)
    assert ledger.reserved == 0 and usage.input_tokens == 1000 and usage.output_tokens == 100
    assert usage.cost_usd == pytest.approx(0.0035) and ledger.by_job["locate"].requests == 1


def test_reserve_refuses_the_request_that_could_cross_the_cap():
    ledger = Ledger(TeacherUsage(), Prices(0.0, 1e6 / 10), max_cost_usd=1.0)  # max_tokens 3 -> worst case $0.30
    held = [ledger.reserve(0, 3) for _ in range(3)]  # 0.90 reserved
    with pytest.raises(BudgetExceeded) as info:
        ledger.reserve(0, 3)
    assert "teacher.max_cost_usd" in str(info.value) and "cached" in str(info.value)
    for r in held:
        ledger.settle("x", r, Reply("", "stop", 0, 1))  # each really cost $0.10
    assert ledger.usage.cost_usd == pytest.approx(0.3)
    ledger.reserve(0, 3), ledger.reserve(0, 3)  # 0.3 spent + 0.6 reserved
    with pytest.raises(BudgetExceeded):
        ledger.reserve(0, 3)


def test_estimate_over_counts_tokens():
    assert estimate_tokens([{"role": "user", "content": "x" * 3000}]) >= 1000  # ~4 chars/token in reality


def test_budget_stops_the_batch_cleanly_and_a_rerun_pays_only_for_the_rest(tmp_path):
    max_tokens = 1000
    cap = 0.05
    teacher = make_teacher(tmp_path, lambda m, s: OK, prices=PRICES, max_cost_usd=cap, max_tokens=max_tokens)
    requests = [LocateRequest(GSM, f"Step number {i} is here.") for i in range(40)]
    with pytest.raises(BudgetExceeded):
        teacher.locate(requests)
    spent, sent = teacher.usage.cost_usd, teacher.usage.requests
    assert 0 < sent < 40 and spent <= cap
    assert teacher.engine.ledger.reserved == pytest.approx(0.0)  # every reservation settled or released
    assert len(teacher.engine.cache) == sent  # what was paid for is kept

    rerun = make_teacher(tmp_path, lambda m, s: OK, prices=PRICES, max_cost_usd=1.0, max_tokens=max_tokens)
    out = rerun.locate(requests)
    assert all(o.ok for o in out)
    assert rerun.usage.cache_hits == sent and rerun.usage.requests == 40 - sent


def test_usage_since_reports_the_new_counters():
    usage = TeacherUsage()
    before = usage.snapshot()
    usage.reasks += 2
    usage.rate_limited += 3
    usage.failure_reasons["invalid_step"] += 1
    delta = usage.since(before)
    assert delta["reasks"] == 2 and delta["rate_limited"] == 3 and delta["failure_reasons"] == {"invalid_step": 1}
