"""The tiny model builds, saves, reloads through the real-checkpoint code path and generates."""

from __future__ import annotations

from pathlib import Path

import torch

from lemma.config import TinyModelConfig
from lemma.model.loading import count_parameters, load_model, load_tokenizer
from lemma.model.tiny import build_tiny
from lemma.training.synthetic import corpus, make_pairs


def test_build_save_reload_generate(tmp_path: Path) -> None:
    cfg = TinyModelConfig(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=2)
    build_tiny(corpus(make_pairs(64)), cfg, tmp_path / "m", seed=3)
    tok = load_tokenizer(tmp_path / "m")
    model = load_model(tmp_path / "m")
    assert tok.eos_token == "</s>" and tok.pad_token == "<pad>" and tok.bos_token == "<s>"
    assert len(tok) == cfg.vocab_size == model.config.vocab_size
    ids = tok("### Instruction:\nAnn has 3 pens.", return_tensors="pt")
    assert ids["input_ids"][0, 0].item() == tok.bos_token_id  # BOS like a Llama base tokenizer
    assert tok.decode(ids["input_ids"][0], skip_special_tokens=True) == "### Instruction:\nAnn has 3 pens."
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert model.config.hidden_size == 64 and model.config.num_hidden_layers == 2


def test_build_is_seeded_and_leaves_global_rng(tmp_path: Path) -> None:
    cfg = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2)
    texts = corpus(make_pairs(32))
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    build_tiny(texts, cfg, tmp_path / "a", seed=7)
    assert torch.rand(1) == before
    build_tiny(texts, cfg, tmp_path / "b", seed=7)
    a, b = load_model(tmp_path / "a"), load_model(tmp_path / "b")
    assert count_parameters(a) == count_parameters(b)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_pad_defaults_to_eos_for_base_tokenizers(tmp_path: Path) -> None:
    cfg = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2)
    build_tiny(corpus(make_pairs(16)), cfg, tmp_path / "m", seed=0)
    import json

    config = tmp_path / "m" / "tokenizer_config.json"
    data = json.loads(config.read_text())
    data.pop("pad_token", None)
    config.write_text(json.dumps(data))
    tok = load_tokenizer(tmp_path / "m")
    assert tok.pad_token == tok.eos_token == "</s>"
