"""FlashAttention-2 is an optional extra: without flash-attn (or a GPU) training falls back to SDPA and says why."""

from __future__ import annotations

import importlib.util
import logging

from lemma.model import loading
from lemma.model.loading import resolve_attn_implementation


def test_flash_without_the_package_falls_back_to_sdpa_with_a_warning(monkeypatch, caplog):
    real = importlib.util.find_spec
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda name: None if name == "flash_attn" else real(name))
    with caplog.at_level(logging.WARNING, logger="lemma.model.loading"):
        assert resolve_attn_implementation("flash_attention_2", on_gpu=True) == "sdpa"
    assert "flash-attn is not installed" in caplog.text and ".[flash]" in caplog.text


def test_flash_is_kept_where_it_can_run_and_other_choices_pass_through(monkeypatch):
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda name: object())
    assert resolve_attn_implementation("flash_attention_2", on_gpu=True) == "flash_attention_2"
    assert resolve_attn_implementation("flash_attention_2", on_gpu=False) == "sdpa"
    assert resolve_attn_implementation("eager", on_gpu=True) == "eager"
    assert resolve_attn_implementation(None, on_gpu=True) is None


def test_the_flash_extra_is_declared_and_optional():
    import tomllib

    from lemma.config import REPO_ROOT

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("flash-attn") for dep in project["optional-dependencies"]["flash"])
    assert not any("flash" in dep for dep in project["dependencies"])
