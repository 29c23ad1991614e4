"""A closed word-level tokenizer for a built-in world: every word, number and phrase is one token.

Why not BPE: a sub-word tokenizer learnt from questions and references spells the teacher's reflection phrases
nearly letter by letter ("Wait, let me check that step again." was 27 tokens), so LEMMA rows were six times as long
as references and a tiny model garbled them. A world whose texts come from known templates has a closed vocabulary:
the GPT-2 pre-tokenizer (words with their leading space, numbers, punctuation, newlines) cuts a text into pieces,
and each piece the world, the prompt template or the teacher can write is one token. A piece outside it maps to
`<unk>`; `unknown_pieces` finds those, so a test can prove the vocabulary covers everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
SPECIAL = (BOS, EOS, PAD, UNK)


def _pre_tokenizer():  # -> tokenizers.pre_tokenizers.ByteLevel
    from tokenizers import pre_tokenizers

    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


def pieces(text: str) -> list[str]:
    """The pre-tokenizer's pieces of `text`, in its byte-level alphabet (" Tom" is "ĠTom")."""
    return [piece for piece, _ in _pre_tokenizer().pre_tokenize_str(text)]


def closed_vocabulary(texts: Iterable[str]) -> list[str]:
    """Every distinct piece of `texts`, sorted, after the special tokens: the vocabulary, with fixed ids."""
    found: set[str] = set()
    for text in texts:
        found.update(pieces(text))
    return [*SPECIAL, *sorted(found)]


def word_tokenizer(vocabulary: list[str]):  # -> PreTrainedTokenizerFast
    """A tokenizer that maps each piece to its own id; decoding gives the text back byte for byte."""
    from tokenizers import Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({piece: i for i, piece in enumerate(vocabulary)}, unk_token=UNK))
    tok.pre_tokenizer = _pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A $B",
                                                       special_tokens=[(BOS, vocabulary.index(BOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
                                   model_max_length=1 << 30, clean_up_tokenization_spaces=False)


def unknown_pieces(tokenizer, text: str) -> list[str]:
    """Pieces of `text` that the tokenizer maps to `<unk>` (empty when the vocabulary covers it)."""
    vocab = tokenizer.get_vocab()
    return [piece for piece in pieces(text) if piece not in vocab]


def save(tokenizer, out: Path) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out))
