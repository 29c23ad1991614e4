"""The API key is read from os.environ[teacher.api_key_env] at request time only and never written anywhere.

The original kept the key in a fixed dotfile (METHOD.md §10, defect 14). Here a recognisable fake key goes through a
real HTTP exchange with the loopback server; afterwards the whole tmp tree (cache, logs, manifest, reprs, error
messages) is searched for it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from lemma.records import Problem
from lemma.teacher.base import LocateRequest
from lemma.teacher.limiter import TeacherStopped
from lemma.teacher.llm import LLMTeacher
from tests.fakes.openai_server import FakeOpenAIServer

KEY = "sk-lemma-FAKE-KEY-7f3a9c0d-DO-NOT-LEAK"
OTHER = "sk-lemma-OTHER-KEY-55e1b2aa"
ENV = "LEMMA_TEST_TEACHER_KEY"
GSM = Problem("g1", "gsm8k", "Ann has 3 bags of 4 apples. How many?", "3 x 4 = 12.\nThe answer is: 12", "12")


def _teacher(make_cfg, server: FakeOpenAIServer, cache: Path) -> tuple[LLMTeacher, object]:
    cfg = make_cfg("teacher=openai", "data=gsm8k_math", f"teacher.base_url={server.base_url}",
                   f"teacher.api_key_env={ENV}", "teacher.max_retries=1", "teacher.backoff_base_s=0.01")
    return LLMTeacher.from_config(cfg, cache), cfg


def _requests(n: int) -> list[LocateRequest]:
    return [LocateRequest(GSM, f"She has 3 x 4 = {13 + i} apples.\nThe answer is: {13 + i}") for i in range(n)]


def test_key_never_leaves_the_request(make_cfg, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv(ENV, raising=False)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with FakeOpenAIServer(require_key=KEY) as server:
        teacher, cfg = _teacher(make_cfg, server, tmp_path / "cache")  # built without the key in the env
        with pytest.raises(TeacherStopped) as missing:
            teacher.locate(_requests(1))
        assert ENV in str(missing.value)

        monkeypatch.setenv(ENV, KEY)  # read at call time: no rebuild needed
        before = teacher.usage.snapshot()
        outcomes = teacher.locate(_requests(3))
        assert all(o.ok for o in outcomes) and server.stats.authorization >= {f"Bearer {KEY}"}

        monkeypatch.setenv(ENV, OTHER)  # rotated to a wrong key: the stage stops with advice, not the key
        with pytest.raises(TeacherStopped) as rejected:
            teacher.locate(_requests(5)[3:])
        assert ENV in str(rejected.value) and "401" in str(rejected.value)

        (out_dir / "manifest.json").write_text(json.dumps({"teacher": teacher.usage.since(before),
                                                           "config": OmegaConf.to_container(cfg)}, default=str))
        (out_dir / "reprs.txt").write_text(f"{teacher!r}\n{teacher.engine.backend!r}\n{teacher.__dict__!r}\n"
                                           f"{missing.value}\n{rejected.value}\n{OmegaConf.to_yaml(cfg)}")
        (out_dir / "run.log").write_text("\n".join(r.getMessage() for r in caplog.records))

    assert caplog.records and len(list((tmp_path / "cache").rglob("*.json"))) == 3
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert KEY.encode() not in data and OTHER.encode() not in data, f"key leaked into {path}"
