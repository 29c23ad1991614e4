"""Generation: stop strings cut the text, truncation is recorded, budgets fit the context, engines are reused."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from lemma import generation
from lemma.generation import Generation, SamplingSpec, cut_at_stop, generate, keep_loaded
from lemma.prompt_format import STOP_STRINGS

TEXTS = ["### Instruction:\nWhat is 3 + 4?\n\n### Response: Let's think step by step. 3 + 4 = 7.\n"
         "The answer is: 7"] * 20


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from lemma.config import TinyModelConfig
    from lemma.model.tiny import build_tiny

    out = tmp_path_factory.mktemp("tiny")
    cfg = TinyModelConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2,
                          max_position_embeddings=96)
    build_tiny(TEXTS, cfg, out, seed=0)
    return out


def test_cut_at_stop_takes_the_earliest_stop_string():
    assert cut_at_stop("7.\nThe answer is: 7\n\n### Instruction:\nNext", STOP_STRINGS) == ("7.\nThe answer is: 7", True)
    assert cut_at_stop("a<|im_end|>b\n\n#c", STOP_STRINGS) == ("a", True)
    assert cut_at_stop("no stop here", STOP_STRINGS) == ("no stop here", False)


class ScriptedModel:
    """Stands in for a causal LM: continues each prompt with a scripted token sequence (right-padded like HF)."""

    def __init__(self, tokenizer, scripts: dict[str, str], eos_after: set[str]) -> None:
        self.tok, self.scripts, self.eos_after = tokenizer, scripts, eos_after
        self.budgets: list[int] = []

    def generate(self, input_ids, attention_mask, max_new_tokens, **kwargs):
        self.budgets.append(max_new_tokens)
        self.kwargs = kwargs
        rows = []
        for ids, mask in zip(input_ids, attention_mask):
            prompt = self.tok.decode(ids[mask.bool()], skip_special_tokens=True)
            new = self.tok(self.scripts[prompt], add_special_tokens=False)["input_ids"]
            if prompt in self.eos_after:
                new = new + [self.tok.eos_token_id]
            rows.append(new[:max_new_tokens])
        width = max(len(r) for r in rows)
        pad = self.tok.pad_token_id
        new_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        return torch.cat([input_ids, new_ids], dim=1)


def test_hf_rows_cut_at_stop_strings_and_flag_truncation(tiny_model, monkeypatch):
    from lemma.model.loading import load_tokenizer

    tok = load_tokenizer(tiny_model, padding_side="left")
    scripts = {"stops": " 3 + 4 = 7.\nThe answer is: 7\n\n### Instruction:\nWhat", "eos": " The answer is: 7",
               "runs on": " 3 + 4 = 7 and 7 + 7 = 14 and" * 20}
    model = ScriptedModel(tok, scripts, eos_after={"eos"})
    engine = generation._HFEngine(model, tok, "cpu", context=None)
    monkeypatch.setattr(generation, "_load_hf", lambda *a: engine)
    out = generate("unused", list(scripts), SamplingSpec(max_new_tokens=40, stop=STOP_STRINGS), batch_size=3)
    stops, eos, runs_on = (o[0] for o in out)
    assert stops.text == "3 + 4 = 7.\nThe answer is: 7" and not stops.truncated
    assert eos.text == "The answer is: 7" and not eos.truncated
    assert eos.new_tokens == len(tok(scripts["eos"], add_special_tokens=False)["input_ids"]) + 1  # with EOS
    assert runs_on.truncated and runs_on.new_tokens == 40
    assert model.kwargs["pad_token_id"] == tok.pad_token_id and model.kwargs["eos_token_id"] == tok.eos_token_id
    assert model.kwargs["stop_strings"] == list(STOP_STRINGS) and model.kwargs["do_sample"] is False


def test_budget_is_capped_at_the_context_and_long_prompts_are_cut(tiny_model, monkeypatch):
    from lemma.model.loading import load_tokenizer

    tok = load_tokenizer(tiny_model, padding_side="left")
    long_prompt = "What is 3 + 4? " * 40
    short_prompt = "What is 3 + 4?"
    kept = tok.decode(tok(long_prompt)["input_ids"][-(96 - 8):], skip_special_tokens=True)
    model = ScriptedModel(tok, {short_prompt: " 7", kept: " 7"}, eos_after=set())
    monkeypatch.setattr(generation, "_load_hf", lambda *a: generation._HFEngine(model, tok, "cpu", context=96))
    out = generate("unused", [short_prompt, long_prompt], SamplingSpec(max_new_tokens=8), batch_size=1)
    assert [o[0].prompt_truncated for o in out] == [False, True]
    assert model.budgets == [8, 8]  # the long prompt was cut to context - min(64, max_new_tokens) tokens


def test_real_tiny_model_n_samples_in_prompt_order(tiny_model):
    prompts = ["What is 3 + 4?", "What is 1 + 1?", "What is 3 + 4? " * 30]
    out = generate(str(tiny_model), prompts, SamplingSpec(n=2, temperature=0.8, max_new_tokens=6, stop=STOP_STRINGS),
                   batch_size=4, device="cpu")
    assert [len(o) for o in out] == [2, 2, 2]
    assert all(isinstance(g, Generation) and 0 < g.new_tokens <= 6 for o in out for g in o)
    assert out[2][0].prompt_truncated and not out[0][0].prompt_truncated
    greedy = generate(str(tiny_model), prompts[:1], SamplingSpec(max_new_tokens=6), device="cpu")
    assert greedy == generate(str(tiny_model), prompts[:1], SamplingSpec(max_new_tokens=6), device="cpu")
    assert "vllm" not in sys.modules


def test_keep_loaded_reuses_the_engine(tiny_model, monkeypatch):
    loads = []
    real = generation._load_hf
    monkeypatch.setattr(generation, "_load_hf", lambda *a: loads.append(a) or real(*a))
    spec = SamplingSpec(max_new_tokens=2)
    with keep_loaded() as engines:
        generate(str(tiny_model), ["a"], spec, device="cpu", engines=engines)
        generate(str(tiny_model), ["b"], spec, device="cpu", engines=engines)
        assert len(engines) == 1
    generate(str(tiny_model), ["c"], spec, device="cpu")
    assert len(loads) == 2 and len(engines) == 0  # released at the block's end, nothing kept globally


@pytest.mark.skipif("vllm" in sys.modules or __import__("importlib").util.find_spec("vllm") is not None,
                    reason="vllm is installed here")
def test_vllm_backend_names_the_extra_when_missing():
    with pytest.raises(ImportError, match=r"\[gpu\]"):
        generate("unused", ["p"], SamplingSpec(), backend="vllm")
    with pytest.raises(ValueError, match="use auto, hf or vllm"):
        generate("unused", ["p"], SamplingSpec(), backend="tgi")
