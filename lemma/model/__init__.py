"""Models: the locally built tiny student, loading, and where an artifact keeps its weights.

`model_path(artifact)` is how sample/evaluate find the weights of any `base` or `train.*` artifact: a folder
`model/` inside it (tiny base model, every trained model), or, for `model.kind=hf` base artifacts, the hub name or
local path recorded in `model_ref.json` (the base stage does not copy multi-GB checkpoints).
"""

from __future__ import annotations

import json
from typing import Any

MODEL_DIR = "model"
MODEL_REF = "model_ref.json"


def model_path(artifact: Any) -> str:
    """The `from_pretrained` argument for a base or train artifact's weights."""
    folder = artifact.file(MODEL_DIR)
    if folder.is_dir():
        return str(folder)
    ref = artifact.file(MODEL_REF)
    if ref.is_file():
        return str(json.loads(ref.read_text())["model_path"])
    raise FileNotFoundError(f"{artifact}: holds neither {MODEL_DIR}/ nor {MODEL_REF}; is it a base or train artifact?")
