"""Shared fixtures: composing the real config tree with Hydra's Compose API, outputs under tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from lemma.config import REPO_ROOT, register_configs

CONF_DIR = str(REPO_ROOT / "conf")


@pytest.fixture(scope="session", autouse=True)
def _registered() -> None:
    register_configs()


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """compose(overrides) with paths.root in tmp_path, as `python run.py <overrides>` would see it."""

    def _make(*overrides: str, root: Path | None = None) -> DictConfig:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose(config_name="config", overrides=[f"paths.root={root or tmp_path}", *overrides])

    return _make
