"""Teacher prompt templates, one file per job: `lemma/prompts/<job>/<set>.md`, chosen by `teacher.prompts`.

Their bytes are hashed into the artifact key of the stage that uses them, so editing a prompt reruns exactly the
stages that send it. The symbolic teacher sends no prompts; its behaviour is versioned by its stage versions.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

PROMPT_DIR = Path(__file__).resolve().parent


def prompt_path(job: str, prompt_set: str = "default", variant: str | None = None) -> Path:
    name = f"{prompt_set}_{variant}" if variant else prompt_set
    path = PROMPT_DIR / job / f"{name}.md"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt {path.relative_to(PROMPT_DIR.parent)}; teacher.prompts={prompt_set!r} "
                                f"needs one file per job under lemma/prompts/<job>/")
    return path


def prompt_files(cfg: DictConfig, *jobs: str) -> dict[str, bytes]:
    """The prompt bytes a stage's teacher calls depend on (empty for the symbolic teacher)."""
    if str(cfg.teacher.backend) == "symbolic":
        return {}
    files: dict[str, bytes] = {}
    for job in jobs:
        variant = None
        if job == "fresh" and str(cfg.correction.fresh_variant) == "model_aware":
            variant = "model_aware"
        path = prompt_path(job, cfg.teacher.prompts, variant)
        files[f"{job}/{path.name}"] = path.read_bytes()
    return files
