"""Training configuration: batch plan, DeepSpeed JSON, launch argv, memory pre-flight, presets, the paper recipe."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from lemma.config import REPO_ROOT
from lemma.config_models import TrainConfig
from lemma.training import preflight
from lemma.training.deepspeed_config import build_config
from lemma.training.job import TrainJob, TrainJobError, batch_plan, from_config, load_job, save_job, validate
from lemma.training.launch import command

def _job(**kw: object) -> TrainJob:
    return TrainJob(model_path="m", data_path="d", output_dir="o", checkpoint_dir="c",
                    train=TrainConfig(seed=0, **kw))  # type: ignore[arg-type]


def _job_from(cfg: DictConfig, tmp_path: Path) -> TrainJob:
    return from_config(cfg.train, cfg.model, model_path=cfg.model.path or "tiny", data_path=tmp_path / "rows.jsonl",
                       output_dir=tmp_path / "model", checkpoint_dir=tmp_path / "work")


def test_batch_plan_derives_micro_batch_and_accumulation() -> None:
    assert batch_plan(_job(global_batch=32)) == (32, 1)
    assert batch_plan(_job(global_batch=32, nproc_per_node=2)) == (16, 1)
    assert batch_plan(_job(global_batch=256, micro_batch=4, nproc_per_node=8)) == (4, 8)  # the paper
    with pytest.raises(TrainJobError, match=r"train.global_batch=30 .*train.micro_batch=4.*train.nproc_per_node=8"):
        batch_plan(_job(global_batch=30, micro_batch=4, nproc_per_node=8))
    with pytest.raises(TrainJobError, match=r"train.global_batch=33 .*train.nproc_per_node"):
        batch_plan(_job(global_batch=33, nproc_per_node=2))


def test_validate_names_the_keys() -> None:
    with pytest.raises(TrainJobError, match="train.offload_params needs train.zero_stage=3"):
        validate(_job(backend="deepspeed", zero_stage=2, offload_params=True))
    with pytest.raises(TrainJobError, match="train.hostfile"):
        validate(_job(nnodes=2, global_batch=32))
    with pytest.raises(TrainJobError, match="backend=deepspeed"):
        validate(_job(zero_stage=2))
    validate(_job(backend="deepspeed", zero_stage=3, offload_params=True, offload_optimizer=True, nproc_per_node=2))


def test_job_yaml_roundtrip(tmp_path: Path) -> None:
    job = _job(max_steps=None, micro_batch=4, hostfile="/h")
    assert load_job(save_job(job, tmp_path / "job.yaml")) == job
    (tmp_path / "bad.yaml").write_text((tmp_path / "job.yaml").read_text() + "lr_typo: 1\n")
    with pytest.raises(Exception, match="lr_typo"):
        load_job(tmp_path / "bad.yaml")


def test_deepspeed_json_is_generated_from_the_job() -> None:
    z2 = build_config(_job(backend="deepspeed", zero_stage=2, global_batch=256, micro_batch=4, nproc_per_node=8,
                           bf16=True))
    assert (z2["train_batch_size"], z2["train_micro_batch_size_per_gpu"], z2["gradient_accumulation_steps"]) == \
        (256, 4, 8)
    zero = z2["zero_optimization"]  # METHOD.md §6: the paper's ZeRO-2 settings
    assert zero["stage"] == 2 and zero["overlap_comm"] and zero["contiguous_gradients"]
    assert zero["allgather_bucket_size"] == zero["reduce_bucket_size"] == 5e8 and zero["round_robin_gradients"]
    assert z2["bf16"] == {"enabled": True} and z2["gradient_clipping"] == 1.0 and "optimizer" not in z2
    z3 = build_config(_job(backend="deepspeed", zero_stage=3, nproc_per_node=2, offload_optimizer=True,
                           offload_params=True))
    assert z3["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True  # b3
    assert z3["zero_optimization"]["offload_param"]["device"] == "cpu"
    assert z3["optimizer"]["type"] == "AdamW"  # offload steps DeepSpeedCPUAdam


def test_launch_argv_is_a_list_per_topology(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    one = command(_job(), path)
    assert command(_job(backend="deepspeed", zero_stage=2), path)[1:3] == ["-m", "torch.distributed.run"]
    assert one[1:] == ["-m", "lemma.training.worker", str(path)]
    two = command(_job(nproc_per_node=2), path)
    assert two[1:4] == ["-m", "torch.distributed.run", "--standalone"] and "--nproc_per_node" in two
    assert two[-3:] == ["-m", "lemma.training.worker", str(path)]
    multi = command(_job(nproc_per_node=8, nnodes=2, hostfile="/etc/hosts8"), path)
    assert multi[1:3] == ["-m", "deepspeed.launcher.runner"]
    assert {"--hostfile", "/etc/hosts8", "--no_local_rank", "--module"} <= set(multi)
    assert multi[multi.index("--num_nodes") + 1] == "2" and multi[-2:] == ["lemma.training.worker", str(path)]
    assert all(isinstance(a, str) for a in one + two + multi)


PAPER = ["train.nproc_per_node=8", "train.global_batch=256", "train.micro_batch=4", "train.max_seq_len=4096",
         "train.bf16=true", "train.gradient_checkpointing=true"]


def test_preflight_refuses_70b_on_zero2_and_suggests(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    cfg = make_cfg("model=llama3_70b", "train=zero2", *PAPER)
    job = _job_from(cfg, tmp_path)
    with pytest.raises(preflight.PreflightError) as err:
        preflight.check(job, cfg.model.params_b, cfg.model.path)
    message = str(err.value)
    assert "train.gpu_memory_gb=80" in message and "train.backend=deepspeed train.zero_stage=3" in message
    assert "train.zero_stage=3 train.offload_optimizer=true train.offload_params=true" in message
    assert "train=zero3_offload" not in message  # an option would reset the recipe; keys keep it


def test_preflight_accepts_the_paper_recipe_and_skips_tiny(make_cfg: Callable[..., DictConfig],
                                                           tmp_path: Path) -> None:
    cfg = make_cfg("experiment=lemma_llama3_8b")
    est = preflight.check(_job_from(cfg, tmp_path), cfg.model.params_b, cfg.model.path)
    assert est is not None and 30 < est.total_gb < 80
    # without gradient checkpointing 4 x 4096 tokens of LLaMA3-8B do not fit an 80 GB card
    with pytest.raises(preflight.PreflightError, match="gradient_checkpointing=true"):
        nogc = make_cfg("experiment=lemma_llama3_8b", "train.gradient_checkpointing=false")
        preflight.check(_job_from(nogc, tmp_path), nogc.model.params_b, nogc.model.path)
    tiny = make_cfg()
    assert preflight.check(_job_from(tiny, tmp_path), tiny.model.params_b, tiny.model.name) is None


def test_zero_memory_follows_the_zero_paper() -> None:
    """2+2+12 bytes/param, partitioned per stage: 7.5B params on 64 GPUs (ZeRO paper Fig. 1)."""
    base = preflight.Setup(7.5, (4096, 32, 11008, 32000), 64, 0, False, False, False, 16, 1, 1, True, True)
    states = {stage: (lambda e: e.weights_gb + e.grads_gb + e.optimizer_gb)(
        preflight.estimate(preflight.replace(base, zero_stage=stage))) for stage in range(4)}
    assert states[0] == pytest.approx(120, rel=1e-3)
    assert states[1] == pytest.approx(31.4, rel=1e-2)
    assert states[2] == pytest.approx(16.6, rel=1e-2)
    assert states[3] == pytest.approx(1.875, rel=1e-3)  # 1.9 in the figure, rounded


PRESETS = {"llama3_8b": "meta-llama/Meta-Llama-3-8B", "llama3_70b": "meta-llama/Meta-Llama-3-70B",
           "mistral_7b": "mistralai/Mistral-7B-v0.1", "deepseekmath_7b": "deepseek-ai/deepseek-math-7b-base",
           "qwen2_math_7b": "Qwen/Qwen2-Math-7B"}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_model_presets(make_cfg: Callable[..., DictConfig], name: str) -> None:
    model = make_cfg(f"model={name}").model
    assert (model.name, model.kind, model.path) == (name, "hf", PRESETS[name])
    assert model.params_b > 1 and model.dtype == "bfloat16" and model.attn_implementation == "flash_attention_2"
    assert model.path in preflight.SHAPES


@pytest.mark.parametrize("option,stage,offload", [("cpu", 0, False), ("zero2", 2, False), ("zero3", 3, False),
                                                  ("zero3_offload", 3, True)])
def test_train_options(make_cfg: Callable[..., DictConfig], tmp_path: Path, option: str, stage: int,
                       offload: bool) -> None:
    cfg = make_cfg(f"train={option}")
    assert cfg.train.zero_stage == stage and cfg.train.offload_optimizer == offload
    validate(_job_from(cfg, tmp_path))


def test_recipe_matches_method_table(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    """experiment=lemma_llama3_8b, field by field against METHOD.md §6 (the values are quoted from its table:
    base model Meta-Llama-3-8B; lr 1e-5, cosine, warmup ratio 0.03; 3 epochs; 4 per device x accumulation 8 x 8 GPUs
    = 256; cutoff 4096, no packing; bf16, FlashAttention-2; max grad norm 1.0, weight decay 0; ZeRO-2)."""
    cfg = make_cfg("experiment=lemma_llama3_8b")
    t, m = cfg.train, cfg.model
    assert m.path == "meta-llama/Meta-Llama-3-8B" and m.dtype == "bfloat16"
    assert m.attn_implementation == "flash_attention_2"
    assert (t.lr, t.scheduler, t.warmup_ratio, t.epochs, t.max_steps) == (1e-5, "cosine", 0.03, 3, None)
    assert (t.micro_batch, t.nproc_per_node, t.global_batch) == (4, 8, 256)
    assert batch_plan(_job_from(cfg, tmp_path)) == (4, 8)  # accumulation 8, derived
    assert (t.max_seq_len, t.packing, t.bf16) == (4096, False, True)
    assert (t.max_grad_norm, t.weight_decay, t.lora) == (1.0, 0.0, False)
    assert (t.backend, t.zero_stage) == ("deepspeed", 2)
    assert (cfg.teacher.name, cfg.data.name, cfg.benchmark.name) == ("gpt4o", "gsm8k_math", "paper")


def test_gpu_check_script_builds_on_cpu() -> None:
    """scripts/gpu_check_zero.py imports without a GPU; its ~1.2B config builds on the meta device."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check_zero", REPO_ROOT / "scripts" / "gpu_check_zero.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert module.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert module.peak_flops("NVIDIA H100 PCIe") == 756e12 and module.peak_flops("Tesla T4") is None
    n_params = module.build_model(Path("/nonexistent"), on_meta=True, shape=module.LLAMA_1B)
    assert 1.1e9 < n_params < 1.4e9
