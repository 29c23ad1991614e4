"""The step splitter keeps character spans, so truncation is an exact slice (METHOD.md §3.5)."""

from __future__ import annotations

import pytest

from lemma.steps import split_steps, step_texts, truncate_after


def test_gsm8k_lines_and_sentences():
    text = "Mr. Smith buys 3 apples. He eats 1.5 of them.\nSo 3 - 1.5 = 1.5 left.\nThe answer is: 1.5"
    steps = step_texts(text, split_steps(text, "gsm8k"))
    assert steps == ["Mr. Smith buys 3 apples.", "He eats 1.5 of them.", "So 3 - 1.5 = 1.5 left.", "The answer is: 1.5"]


def test_abbreviations_do_not_split():
    text = "She bought fruit, e.g. apples and pears. Then she left."
    assert step_texts(text, split_steps(text, "gsm8k")) == ["She bought fruit, e.g. apples and pears.", "Then she left."]


def test_math_lines_without_periods_and_display_blocks():
    text = "We have\n$$\nx^2 = 4\n$$\nso $x = 2$\n\nThe answer is: 2"
    steps = step_texts(text, split_steps(text, "math"))
    assert steps == ["We have", "$$\nx^2 = 4\n$$", "so $x = 2$", "The answer is: 2"]


@pytest.mark.parametrize("dataset", ["gsm8k", "math", "arith"])
def test_truncation_is_an_exact_prefix(dataset):
    text = "Step one is 1 + 1 = 2.\n  Step two: 2 * 3 = 6.\nThe answer is: 6\n"
    spans = split_steps(text, dataset)
    for k in range(1, len(spans) + 1):
        prefix = truncate_after(text, spans, k)
        assert text.startswith(prefix)
        assert prefix.endswith(step_texts(text, spans)[k - 1])
    with pytest.raises(ValueError, match="outside"):
        truncate_after(text, spans, len(spans) + 1)
