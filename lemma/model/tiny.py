"""The `tiny` student: a small Llama built locally from the world's own text, so the whole pipeline runs on CPU.

The tokenizer is either closed (one token per word the world, the prompt and the teacher can write:
lemma.model.vocab; the default, for `data=relations`) or a byte-level BPE trained on the train problems' questions
and reference solutions (`data=arith`, whose numbers and phrasing are open-ended); a randomly initialised (seeded)
`LlamaForCausalLM` is built around it. Both are saved with `save_pretrained`, so every later
stage loads the tiny model through exactly the code path a real checkpoint takes (`lemma.model.loading`). The base
stage then warms it up with a short SFT on correct solutions (METHOD.md §3.1 needs a student that makes *real*
errors, not random noise).

The tokenizer adds `<s>` in front of every encoded text (like Llama-3's `<|begin_of_text|>`) and knows `</s>` as
EOS, which training appends to every response (DESIGN.md §9 b6: base models must learn to stop).
"""

from __future__ import annotations

from pathlib import Path

import torch

from lemma.config import TinyModelConfig

BOS, EOS, PAD = "<s>", "</s>", "<pad>"


def train_tokenizer(texts: list[str], vocab_size: int):  # -> PreTrainedTokenizerFast
    """A byte-level BPE tokenizer (any byte sequence encodes; no unknown tokens) with BOS/EOS/PAD."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS, EOS, PAD], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A $B",
                                                       special_tokens=[(BOS, tok.token_to_id(BOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   model_max_length=1 << 30, clean_up_tokenization_spaces=False)


def build_model(cfg: TinyModelConfig, vocab_size: int, bos_id: int, eos_id: int, pad_id: int, seed: int):
    """A randomly initialised LlamaForCausalLM; the global RNG is left untouched."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                         num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                         num_key_value_heads=cfg.num_heads, max_position_embeddings=cfg.max_position_embeddings,
                         bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id, tie_word_embeddings=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id)
    return model


def closed_texts(world: str, max_number: int, prompt_format: str) -> list[str]:
    """Every text shape that a closed tokenizer must cover: the world's words, the teacher's phrases, the prompt."""
    from lemma.prompt_format import get_format

    if world != "relations":
        raise ValueError(f"model.tiny.tokenizer=closed needs data=relations (a world with a closed vocabulary), not "
                         f"data={world}; use model.tiny.tokenizer=bpe")
    from lemma.teacher.symbolic.relations_revise import phrase_texts
    from lemma.world.relations import vocabulary_texts

    fmt = get_format(prompt_format)
    prompt = fmt.render("Ann has 2 apples. How many apples does Ann have?")
    return [*vocabulary_texts(max_number), *phrase_texts(), prompt + fmt.response_separator + "Ann"]


def build_tiny(texts: list[str], cfg: TinyModelConfig, out: Path, seed: int, tokenizer: str = "bpe") -> None:
    """Build the tokenizer from `texts` (closed vocabulary or trained BPE), the model around it, save both (HF)."""
    if not texts:
        raise ValueError("build_tiny: no texts to build the tokenizer from (the problems artifact is empty?)")
    if tokenizer == "closed":
        from lemma.model.vocab import closed_vocabulary, word_tokenizer

        tok = word_tokenizer(closed_vocabulary(texts))
    else:
        tok = train_tokenizer(texts, cfg.vocab_size)
    model = build_model(cfg, len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
