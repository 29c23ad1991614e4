"""Training data: loss mask + EOS (b6), token cache (b7), world-size-independent batches, exact packing (b5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lemma.model.loading import load_model, load_tokenizer
from lemma.training.data import (IGNORE, GlobalBatchSampler, PadCollator, SFTDataset, encode_pairs, load_tokenized,
                                 make_collator, tokenize_to_cache, write_rows)
from lemma.training.synthetic import make_pairs, tiny_setup


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_setup(tmp_path_factory.mktemp("tiny"), n=64, hidden_size=64, intermediate_size=128, num_layers=2,
                      num_heads=2)


def test_loss_mask_covers_first_response_token_and_eos(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, rows = tiny
    tok = load_tokenizer(model_dir)
    path, _ = tokenize_to_cache(rows, tok, 512, tmp_path)
    data = load_tokenized(path)
    pairs = make_pairs(64)
    for i in range(5):
        prompt, completion = pairs[i]
        n_prompt = len(tok(prompt)["input_ids"])
        ex = data.example(i)
        ids, labels = ex["input_ids"], ex["labels"]
        assert all(label == IGNORE for label in labels[:n_prompt])  # the prompt is masked
        assert labels[n_prompt] == ids[n_prompt] != IGNORE  # the first response token is trained
        assert labels[-1] == ids[-1] == tok.eos_token_id  # EOS appended and trained
        assert tok.decode([t for t in labels if t != IGNORE]) == completion + tok.eos_token
    for collator in (PadCollator(tok.pad_token_id), make_collator(True, tok.pad_token_id)):
        batch = collator([data.example(0), data.example(1)])
        assert (batch["labels"] == tok.eos_token_id).sum() == 2  # one EOS label per example, in both layouts


def test_token_cache_is_reused_and_drops_too_long_rows(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, rows = tiny
    tok = load_tokenizer(model_dir)
    first, stats = tokenize_to_cache(rows, tok, 512, tmp_path)
    again, stats2 = tokenize_to_cache(rows, tok, 512, tmp_path)
    assert first == again and not stats["cache_hit"] and stats2["cache_hit"]
    short, stats3 = tokenize_to_cache(rows, tok, 100, tmp_path)
    assert short != first and 0 < stats3["dropped_too_long"] < stats3["rows"]
    assert load_tokenized(short).lengths.max() <= 100
    with pytest.raises(ValueError, match="max_seq_len"):
        tokenize_to_cache(rows, tok, 5, tmp_path)


def _steps(lengths: np.ndarray, world: int, micro: int, group: bool, epoch: int = 0) -> list[set[int]]:
    per_rank = []
    for rank in range(world):
        s = GlobalBatchSampler(lengths, 16, micro, world, rank, seed=3, group_by_length=group)
        s.set_epoch(epoch)
        per_rank.append(list(s))
    accum = 16 // (micro * world)
    steps = []
    for step in range(len(per_rank[0]) // accum):
        steps.append({i for r in per_rank for mb in r[step * accum:(step + 1) * accum] for i in mb})
    return steps


@pytest.mark.parametrize("group", [False, True])
def test_batches_do_not_depend_on_world_size(group: bool) -> None:
    lengths = np.random.default_rng(0).integers(10, 200, size=100)
    reference = _steps(lengths, 1, 16, group)
    assert len(reference) == 6 and all(len(s) == 16 for s in reference)
    assert _steps(lengths, 2, 8, group) == reference  # zero2/zero3 with 2 processes
    assert _steps(lengths, 2, 2, group) == reference  # 2 processes, 4 accumulation steps
    assert _steps(lengths, 1, 16, group, epoch=1) != reference  # epochs reshuffle


def test_length_grouping_cuts_padding() -> None:
    lengths = np.random.default_rng(0).integers(10, 400, size=512)

    def padding(group: bool) -> float:
        s = GlobalBatchSampler(lengths, 32, 8, 1, 0, seed=0, group_by_length=group)
        real = sum(int(lengths[mb].sum()) for mb in s)
        total = sum(len(mb) * int(lengths[mb].max()) for mb in s)
        return 1 - real / total

    assert padding(True) < 0.1 < padding(False)


def test_packed_and_padded_give_the_same_loss_and_gradients(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    """Flattened rows with per-example position ids: same per-token loss as padding (tolerance 1e-5 relative)."""
    model_dir, rows = tiny
    tok = load_tokenizer(model_dir)
    data = SFTDataset(load_tokenized(tokenize_to_cache(rows, tok, 512, tmp_path)[0]))
    features = [data[i] for i in range(6)]
    model = load_model(model_dir)
    model.config.use_cache = False

    def loss_and_grad(batch: dict[str, torch.Tensor]) -> tuple[float, torch.Tensor]:
        model.zero_grad()
        loss = model(**batch, use_cache=False).loss
        loss.backward()
        return loss.item(), model.model.embed_tokens.weight.grad.clone()

    padded = PadCollator(tok.pad_token_id)(features)
    packed = make_collator(True, tok.pad_token_id)(features)
    assert packed["input_ids"].shape[0] == 1 and "attention_mask" not in packed
    assert packed["input_ids"].numel() == int(padded["attention_mask"].sum())  # no padding at all
    loss_pad, grad_pad = loss_and_grad(padded)
    loss_pack, grad_pack = loss_and_grad(packed)
    assert loss_pack == pytest.approx(loss_pad, rel=1e-5)
    assert torch.allclose(grad_pack, grad_pad, atol=1e-6, rtol=1e-4)
    # the check can fail: without restarting position ids the examples see each other and the loss moves
    leaky = {k: v for k, v in packed.items() if k != "position_ids"}
    assert abs(loss_and_grad(leaky)[0] - loss_pad) > 1e-3


def test_encode_requires_eos(tiny: tuple[Path, Path]) -> None:
    tok = load_tokenizer(tiny[0])
    tok.eos_token = None
    with pytest.raises(ValueError, match="EOS"):
        encode_pairs(tok, [("q", " a")])


def test_rows_roundtrip(tmp_path: Path) -> None:
    from lemma.training.data import read_rows

    write_rows(tmp_path / "r.jsonl", [("p", " c"), ("ü", " ∑")])
    assert read_rows(tmp_path / "r.jsonl") == [("p", " c", []), ("ü", " ∑", [])]
