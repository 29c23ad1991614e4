"""The one prompt format shared by student sampling, SFT data and evaluation.

The original trained with LLaMA-Factory's `default` template (`Human: ...\\nAssistant:`) and evaluated with the
`cot-meta-math` template (METHOD.md §7), so the model saw one format in training and another at test time. Here every
stage renders prompts through this module, and the template hash goes into artifact keys and result rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# cot-meta-math, exactly as the paper's harness renders it (its trailing space is stripped by the harness too).
COT_META_MATH = "### Instruction:\n{question}\n\n### Response: Let's think step by step."
STOP_STRINGS = ("</s>", "<|im_end|>", "<|endoftext|>", "\n\n#", "\n\nInstruction:")


@dataclass(frozen=True)
class PromptFormat:
    name: str
    template: str
    response_separator: str = " "  # between the prompt and the response in SFT rows
    shot_separator: str = "\n\n"

    def render(self, question: str, shots: tuple[tuple[str, str], ...] = ()) -> str:
        """The prompt for `question`, preceded by solved demonstrations (question, response) when shots are given."""
        demos = [self.render(q) + self.response_separator + a for q, a in shots]
        return self.shot_separator.join([*demos, self.template.format(question=question)])

    def sft_pair(self, question: str, response: str) -> tuple[str, str]:
        """(prompt, completion) for training; the loss covers the completion only, plus EOS."""
        return self.render(question), self.response_separator + response.strip()

    @property
    def sha256(self) -> str:
        payload = "\x1f".join([self.name, self.template, self.response_separator, self.shot_separator])
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


FORMATS: dict[str, PromptFormat] = {"cot_meta_math": PromptFormat("cot_meta_math", COT_META_MATH)}


def get_format(name: str) -> PromptFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise KeyError(f"unknown prompt format {name!r}; known: {', '.join(FORMATS)}") from None
