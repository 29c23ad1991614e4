"""The released LEMMA SFT set (`data=lemma_release`): Alpaca rows from a JSON array, JSONL, parquet or the hub.

The release (Hugging Face `panzs19/LEMMA`, 88,904 rows; METHOD.md, sources) has the Alpaca fields `instruction`,
`input` and `output`. Mirrors and exports come as a JSON array (what most Alpaca tooling writes), as JSONL, or as
the hub's parquet; all three are read here, by content for `.json` (an array or one object per line).

Each row becomes an SFTExample whose question is the instruction (plus the input, when there is one), and training
wraps the question in the project's one prompt template (lemma.prompt_format). A file whose instructions already
carry that template would be wrapped twice and teach the model a prompt it never sees at evaluation, so such rows are
refused with the row number and the fix, unless `data.release_strip_template=true` asks to take the question out of
the template first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lemma.errors import LemmaError
from lemma.prompt_format import PromptFormat, get_format
from lemma.records import SFTExample

ALPACA_FIELDS = ("instruction", "input", "output")


class ReleaseDataError(LemmaError, ValueError):
    """The release file cannot be used as it is; the message names the file, the row and the fix."""


def read_release_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a .parquet, .jsonl or .json file (a JSON array, or JSON lines under a .json name)."""
    path = Path(path)
    if not path.is_file():
        raise ReleaseDataError(f"data.release_path: no file {path}")
    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_dict("records")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReleaseDataError(f"{path}: not a valid JSON array ({exc})") from None
        return list(rows)
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ReleaseDataError(f"{path}:{lineno}: not a JSON line ({exc}); the file must be a JSON array "
                                       "or one JSON object per line") from None
    return rows


def template_markers(fmt: PromptFormat) -> list[str]:
    """The template's own lines around the question, e.g. '### Instruction:' and '### Response: ...'."""
    before, _, after = fmt.template.partition("{question}")
    return [line.strip() for line in (before + "\n" + after).splitlines() if line.strip()]


def unwrap(instruction: str, fmt: PromptFormat) -> str:
    """The question inside a prompt rendered with `fmt` (the inverse of fmt.render for a zero-shot prompt)."""
    before, _, after = fmt.template.partition("{question}")
    text = instruction.strip()
    if text.startswith(before.strip()):
        text = text[len(before.strip()):]
    if text.rstrip().endswith(after.strip()):
        text = text.rstrip()[: -len(after.strip())]
    return text.strip()


def release_examples(raw: Iterable[dict[str, Any]], prompt_format: str, *, source: str,
                     strip_template: bool = False) -> list[SFTExample]:
    """SFTExample rows from Alpaca rows; refuses rows without the fields or with the template already applied."""
    fmt = get_format(prompt_format)
    markers = template_markers(fmt)
    rows = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict) or "instruction" not in r or "output" not in r:
            have = sorted(r) if isinstance(r, dict) else type(r).__name__
            raise ReleaseDataError(f"{source}, row {i}: a release row needs the Alpaca fields instruction and output "
                                   f"(input optional); it has {have}")
        instruction = str(r["instruction"])
        found = [m for m in markers if m in instruction]
        if found and strip_template:
            instruction = unwrap(instruction, fmt)
        elif found:
            raise ReleaseDataError(
                f"{source}, row {i}: the instruction already contains the prompt template's {found[0]!r} "
                f"(model.prompt_format={prompt_format}), so training would wrap it in the template a second time. "
                "Set data.release_strip_template=true to take the question out of the template, or rewrite the "
                f"file so that instruction holds the bare question. The row begins: {instruction[:120]!r}")
        extra = str(r.get("input") or "").strip()
        question = instruction.strip() + (f"\n{extra}" if extra else "")
        rows.append(SFTExample(id=f"release-{i:06d}", problem_id=f"release-{i:06d}", dataset="release",
                               question=question, response=str(r["output"]), source="release"))
    return rows


def release_rows(data: Any, prompt_format: str) -> list[SFTExample]:
    """The released set named by `data` (data.release_path, else the hub's data.release_hub)."""
    if data.release_path:
        raw, source = read_release_file(Path(data.release_path)), f"data.release_path={data.release_path}"
    else:
        from datasets import load_dataset  # online users only

        raw, source = [dict(r) for r in load_dataset(data.release_hub, split="train")], str(data.release_hub)
    return release_examples(raw, prompt_format, source=source,
                            strip_template=bool(data.get("release_strip_template", False)))
