"""Packing changes neither the data per step nor the loss (b5): packed and padded runs log the same per-step loss
(within 1e-5 relative), and the packed run computes on no padding. Also: LoRA trains and merges into HF weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lemma.model.loading import count_parameters, load_model
from lemma.config_models import TrainConfig
from lemma.training.job import TrainJob
from lemma.training.launch import run_job
from lemma.training.synthetic import tiny_setup

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("packing")
    model, rows = tiny_setup(root, n=64, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=2)
    return root, model, rows


def _train(setup: tuple[Path, Path, Path], name: str, **kw: Any) -> tuple[dict, list[float]]:
    root, model, rows = setup
    job = TrainJob(model_path=str(model), data_path=str(rows), output_dir=str(root / name / "model"),
                   checkpoint_dir=str(root / name / "work"),
                   train=TrainConfig(global_batch=8, lr=3e-3, log_every=1, save_every=100, seed=0,
                                     **{"max_steps": 4, **kw}))
    metrics = run_job(job, root / name)
    log = (root / name / "work" / "train_log.jsonl").read_text().splitlines()
    losses = [json.loads(line)["loss"] for line in log]
    return metrics, losses


def test_packed_training_equals_padded_training(setup: tuple[Path, Path, Path]) -> None:
    padded, padded_losses = _train(setup, "padded", packing=False, group_by_length=False)
    packed, packed_losses = _train(setup, "packed", packing=True)
    assert padded["padding_share"] > 0.05 and packed["padding_share"] == 0.0
    assert packed["real_tokens"] == padded["real_tokens"]
    assert packed_losses == pytest.approx(padded_losses, rel=1e-5)


def test_lora_merges_into_full_weights(setup: tuple[Path, Path, Path]) -> None:
    root, model, _ = setup
    metrics, _ = _train(setup, "lora", lora=True, lora_r=4, lora_alpha=8, max_steps=3)
    merged = load_model(root / "lora" / "model")
    assert metrics["reload_ok"] and count_parameters(merged) == count_parameters(load_model(model))
    assert not any("lora" in name for name, _ in merged.named_parameters())
