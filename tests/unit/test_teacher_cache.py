"""Request cache: stable keys, atomic writes stored before use, and a rerun that sends nothing already answered."""

from __future__ import annotations

import json

import pytest

from lemma.records import Problem
from lemma.taxonomy import ErrorType
from lemma.teacher import jobs
from lemma.teacher.base import InjectRequest, LocateRequest
from lemma.teacher.cache import Reply, RequestCache, request_key
from tests.fakes.scripted_backend import make_teacher

GSM = Problem("g1", "gsm8k", "Q?", "3 x 4 = 12.\nThe answer is: 12", "12")
OK = '{"verdict": "incorrect", "first_wrong_step": 1}'
MESSAGES = [{"role": "user", "content": "hello"}]
SAMPLING = {"temperature": 0.7, "top_p": 1.0, "max_tokens": 10, "seed": None}


def test_key_is_pinned_and_independent_of_dict_order():
    key = request_key("openai", "gpt-4o", MESSAGES, SAMPLING, (0, 0))
    reordered = request_key("openai", "gpt-4o", [{"content": "hello", "role": "user"}],
                            dict(reversed(list(SAMPLING.items()))), (0, 0))
    assert key == reordered
    assert key == "b2a9e720837fc2468e4b89c74a7b0b50c3736e39c514da9326c285c6d5195253"  # pinned: a change re-buys everything


@pytest.mark.parametrize("change", [
    {"backend": "vllm"}, {"model": "gpt-4o-mini"}, {"messages": [{"role": "user", "content": "hello!"}]},
    {"sampling": {**SAMPLING, "temperature": 0.2}}, {"sampling": {**SAMPLING, "seed": 1}}, {"sample": (0, 1)},
    {"sample": (1, 0)}])
def test_every_part_of_the_request_changes_the_key(change):
    base = {"backend": "openai", "model": "gpt-4o", "messages": MESSAGES, "sampling": SAMPLING, "sample": (0, 0)}
    assert request_key(**base) != request_key(**{**base, **change})


def test_put_is_atomic_and_a_crash_mid_write_leaves_no_entry(tmp_path, monkeypatch):
    cache = RequestCache(tmp_path, "nvidia/Llama-3.1-Nemotron-70B-Instruct-HF")
    key = request_key("vllm", "m", MESSAGES, SAMPLING, (0, 0))
    real_dump = json.dump

    def torn_dump(obj, fh, **kw):
        fh.write('{"key": "half')
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(json, "dump", torn_dump)
    with pytest.raises(KeyboardInterrupt):
        cache.put(key, {"messages": MESSAGES}, Reply("x"))
    assert cache.get(key) is None and not list(tmp_path.rglob("*.tmp")) and len(cache) == 0
    monkeypatch.setattr(json, "dump", real_dump)
    cache.put(key, {"messages": MESSAGES}, Reply("x", "stop", 3, 4))
    assert cache.get(key) == Reply("x", "stop", 3, 4)
    assert cache.path(key).parent.parent.name == "nvidia_Llama-3.1-Nemotron-70B-Instruct-HF"


def test_corrupt_entry_counts_as_missing(tmp_path):
    cache = RequestCache(tmp_path, "m")
    cache.path("ab" * 32).parent.mkdir(parents=True)
    cache.path("ab" * 32).write_text("{not json")
    assert cache.get("ab" * 32) is None


def test_rerun_hits_the_cache_and_sends_nothing(tmp_path):
    first = make_teacher(tmp_path, lambda m, s: OK)
    requests = [LocateRequest(GSM, f"Step {i} is here.") for i in range(5)]
    out1 = first.locate(requests)
    assert first.usage.requests == 5 and first.usage.cache_hits == 0
    second = make_teacher(tmp_path, lambda m, s: pytest.fail("a cached request was sent again"))
    out2 = second.locate(requests)
    assert out1 == out2 and second.usage.requests == 0 and second.usage.cache_hits == 5


def test_reply_is_stored_before_it_is_used(tmp_path, monkeypatch):
    """A crash while the reply is being parsed still leaves the paid-for answer in the cache."""
    teacher = make_teacher(tmp_path, lambda m, s: OK)

    def crash(raw, n_steps):
        raise RuntimeError("killed while parsing")

    monkeypatch.setattr(jobs, "parse_location", crash)
    with pytest.raises(RuntimeError):
        teacher.locate([LocateRequest(GSM, "One step.")])
    assert len(teacher.engine.cache) == 1
    monkeypatch.undo()
    rerun = make_teacher(tmp_path, lambda m, s: pytest.fail("answered request re-sent"))
    assert rerun.locate([LocateRequest(GSM, "One step.")])[0].ok


def test_identical_calls_in_a_batch_are_sent_once_but_draws_are_distinct(tmp_path):
    inj = "<solution>\n3 x 4 = 13.\nThe answer is: 13\n</solution>\n<error_step>1</error_step>"
    teacher = make_teacher(tmp_path, lambda m, s: inj if m[0]["content"].startswith("# Error injection") else OK)
    teacher.locate([LocateRequest(GSM, "Same.")] * 3)
    assert teacher.usage.requests == 1 and teacher.usage.cache_hits == 2
    teacher.inject([InjectRequest(GSM, ErrorType.CA, draw) for draw in range(3)])
    assert teacher.usage.requests == 4  # three draws of one type: three requests, three seeds
    assert sorted(s.seed for _, s in teacher.engine.backend.calls[1:]) == [0, 1000, 2000]


def test_sweep_arms_share_entries_across_teacher_instances(tmp_path):
    """Two arms (e.g. correction=fix_only vs mix) that send the same prompt pay once."""
    arm_a = make_teacher(tmp_path, lambda m, s: OK)
    arm_a.locate([LocateRequest(GSM, "A.")])
    arm_b = make_teacher(tmp_path, lambda m, s: OK)
    arm_b.locate([LocateRequest(GSM, "A."), LocateRequest(GSM, "B.")])
    assert arm_b.usage.requests == 1 and arm_b.usage.cache_hits == 1
