"""train=zero2 and train=zero3 (2 processes over gloo) follow train=cpu (1 process) step by step.

Same global batch (8), same examples per step (GlobalBatchSampler), loss normalised over all tokens of the step
(average_tokens_across_devices), so the curves may differ only by float summation order. Tolerance: every step's
loss within 1e-5 relative (fp32; measured <1e-7); ZeRO-3's gathered weights within 1e-4 of the single-process weights.
The first DeepSpeed run compiles its shm comm op (~47 s cold, then cached in ~/.cache/torch_extensions).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from lemma.model.loading import load_model, load_tokenizer
from lemma.config_models import TrainConfig
from lemma.training.job import TrainJob
from lemma.training.launch import run_job
from lemma.training.synthetic import tiny_setup

pytestmark = pytest.mark.slow
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 2}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("zero")
    model, rows = tiny_setup(root, n=64, **TINY)
    return root, model, rows


def _train(root: Path, model: Path, rows: Path, name: str, **kw: Any) -> tuple[dict, list[float]]:
    job = TrainJob(model_path=str(model), data_path=str(rows), output_dir=str(root / name / "model"),
                   checkpoint_dir=str(root / name / "work"),
                   train=TrainConfig(max_steps=6, global_batch=8, lr=3e-3, log_every=1, save_every=100, seed=0, **kw))
    metrics = run_job(job, root / name)
    log = [json.loads(line) for line in (root / name / "work" / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == list(range(1, 7))
    return metrics, [row["loss"] for row in log]


@pytest.fixture(scope="module")
def cpu_run(setup: tuple[Path, Path, Path]) -> tuple[dict, list[float]]:
    return _train(*setup, "cpu")


@pytest.mark.parametrize("stage", [2, 3])
def test_zero_matches_cpu(setup: tuple[Path, Path, Path], cpu_run: tuple[dict, list[float]], stage: int) -> None:
    root, model_dir, rows = setup
    metrics, losses = _train(root, model_dir, rows, f"zero{stage}", backend="deepspeed", zero_stage=stage,
                             nproc_per_node=2)
    cpu_metrics, cpu_losses = cpu_run
    assert metrics["world_size"] == 2 and metrics["micro_batch"] == 4 and metrics["reload_ok"]
    assert cpu_losses[-1] < cpu_losses[0]  # it learns
    for step, (a, b) in enumerate(zip(losses, cpu_losses), start=1):
        assert a == pytest.approx(b, rel=1e-5), f"step {step}: zero{stage} {a} vs cpu {b}"
    assert metrics["num_params"] == cpu_metrics["num_params"]
    if stage == 3:  # the gathered 16-bit weights are the full model (b3) and equal the single-process result
        z3, cpu = load_model(root / "zero3" / "model"), load_model(root / "cpu" / "model")
        for (name, a), b in zip(z3.named_parameters(), cpu.parameters()):
            assert torch.allclose(a, b, atol=1e-4), name
        tok = load_tokenizer(root / "zero3" / "model")
        ids = tok("### Instruction:\nAnn has 3 pens.", return_tensors="pt")
        assert z3.generate(**ids, max_new_tokens=4, do_sample=False).shape[1] > ids["input_ids"].shape[1]
