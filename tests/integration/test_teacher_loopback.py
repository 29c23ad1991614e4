"""The LLM teacher against a real HTTP server on 127.0.0.1: 20 GSM8K train problems, faults, and a SIGKILL resume.

The server (tests/fakes/openai_server.py) answers every job by rule and counts requests per prompt, so these tests
can check outcome validity, that every retry and failure is counted, and that a killed-and-restarted run re-sends
nothing whose answer was already stored (DESIGN.md §9, b9 and b10).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lemma.config import REPO_ROOT
from lemma.teacher.llm import LLMTeacher
from tests.fakes.openai_server import FakeOpenAIServer, Faults, prompt_hash
from tests.fakes.teacher_chain import gsm8k_problems, run_chain, teacher_config

pytestmark = pytest.mark.integration
LIMIT = 20


@pytest.fixture(scope="module")
def problems():
    return gsm8k_problems(LIMIT)


@pytest.fixture(autouse=True)
def _fake_key(monkeypatch):
    monkeypatch.setenv("LEMMA_FAKE_KEY", "sk-fake-loopback")


def _bank(problems) -> dict[str, str]:
    return {p.question: p.reference for p in problems}


def _ok_counts(outputs: dict) -> dict[str, tuple[int, int]]:
    return {job: (sum(o["failure"] is None for o in outs), len(outs)) for job, outs in outputs.items()}


def test_all_jobs_on_gsm8k_produce_valid_outcomes(problems, tmp_path):
    with FakeOpenAIServer(latency_s=0.005, bank=_bank(problems)) as server:
        teacher = LLMTeacher.from_config(teacher_config(server.base_url), tmp_path / "cache")
        outputs = run_chain(teacher, problems)
    assert _ok_counts(outputs) == {job: (LIMIT, LIMIT) for job in outputs}
    for p, inj, loc, lab, fix in zip(problems, outputs["inject"], outputs["locate"], outputs["classify"],
                                     outputs["fix"]):
        assert not inj["value"]["text"].rstrip().endswith(f"The answer is: {p.gold}")  # the error changed the answer
        assert loc["value"]["step"] == inj["value"]["intended_step"]  # the injector's claim matches the location
        assert lab["value"]["verdict"] == "incorrect" and lab["value"]["error_type"]
        assert fix["value"]["continuation"].startswith("Wait") and fix["value"]["continuation"].endswith(p.gold)
    assert teacher.usage.requests == 6 * LIMIT and teacher.usage.failures == 0
    assert sum(server.stats.answered.values()) == 6 * LIMIT


def test_faults_are_survived_and_every_retry_is_counted(problems, tmp_path):
    faults = Faults(rate_429=0.20, rate_500=0.10, rate_stall=0.05, retry_after_s=0.05, stall_s=5.0)
    with FakeOpenAIServer(latency_s=0.005, faults=faults, bank=_bank(problems), seed=7) as server:
        cfg = teacher_config(server.base_url, max_concurrency=32, request_timeout_s=1.0, backoff_base_s=0.05,
                             backoff_max_s=0.5, max_retries=8)
        teacher = LLMTeacher.from_config(cfg, tmp_path / "cache")
        outputs = run_chain(teacher, problems)
    u, seen = teacher.usage, server.stats.outcomes
    assert _ok_counts(outputs) == {job: (LIMIT, LIMIT) for job in outputs}
    assert (u.rate_limited, u.server_errors, u.timeouts) == (seen["429"], seen["500"], seen["stall"])
    assert u.retries == seen["429"] + seen["500"] + seen["stall"] > 0.25 * u.requests
    assert u.requests == seen["ok"] == 6 * LIMIT and u.failures == 0
    print(f"\nfault run: {u.requests} requests, {u.retries} retries "
          f"(429: {u.rate_limited}, 500: {u.server_errors}, timeouts: {u.timeouts})")


def test_dropped_connections_and_malformed_replies(problems, tmp_path):
    faults = Faults(rate_drop=0.15, rate_malformed=0.3)
    with FakeOpenAIServer(faults=faults, bank=_bank(problems), seed=3) as server:
        cfg = teacher_config(server.base_url, backoff_base_s=0.01, max_retries=8)
        teacher = LLMTeacher.from_config(cfg, tmp_path / "cache")
        outputs = run_chain(teacher, problems[:10])
    assert _ok_counts(outputs) == {job: (10, 10) for job in outputs}
    assert teacher.usage.connection_errors == server.stats.outcomes["drop"] > 0
    assert teacher.usage.reasks == teacher.usage.parse_failures == server.stats.outcomes["malformed"] > 0


def _chain(base_url: str, cache: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tests.fakes.teacher_chain", "--base-url", base_url, "--cache", str(cache),
           "--out", str(out), "--limit", str(LIMIT), "--concurrency", "4"]
    return subprocess.Popen(cmd, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


def _stored_prompts(cache: Path) -> set[str]:
    return {prompt_hash(json.loads(p.read_text())["request"]["messages"]) for p in cache.rglob("*.json")}


def test_sigkill_midway_then_resume_resends_nothing_answered(problems, tmp_path):
    with FakeOpenAIServer(latency_s=0.04, bank=_bank(problems)) as server:
        reference = tmp_path / "uninterrupted.json"
        assert _chain(server.base_url, tmp_path / "cache_ref", reference).wait(120) == 0

        cache, out = tmp_path / "cache", tmp_path / "resumed.json"
        start = sum(server.stats.answered.values())
        proc = _chain(server.base_url, cache, out)
        deadline = time.time() + 60
        while sum(server.stats.answered.values()) - start < 50 and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert not out.exists(), "the chain finished before it could be killed"
        stored = _stored_prompts(cache)
        assert 40 <= len(stored) < 6 * LIMIT

        before = server.stats.requests.copy()
        assert _chain(server.base_url, cache, out).wait(120) == 0
        resent = {h for h, n in (server.stats.requests - before).items() if n}
    assert not resent & stored, "a request whose answer was stored was sent again"
    assert len(resent) == 6 * LIMIT - len(stored)
    assert json.loads(out.read_text())["outputs"] == json.loads(reference.read_text())["outputs"]
