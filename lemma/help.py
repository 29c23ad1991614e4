"""`python run.py --help`: the config groups and their options, read from conf/, default first.

Hydra's own listing takes every entry of the ConfigStore as an option, so it showed the schemas (`base_data`,
`base_teacher`, ...) as if `data=base_data` were a choice. The help template in conf/config.yaml calls the
`lemma_help_groups` resolver registered here instead, which lists the YAML options of each group folder and marks the
default chosen by conf/config.yaml.
"""

from __future__ import annotations

from pathlib import Path

import yaml

def _defaults(conf: Path) -> dict[str, str]:
    """group -> default option, from the primary config's defaults list."""
    data = yaml.safe_load((conf / "config.yaml").read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    for entry in data.get("defaults", []):
        if isinstance(entry, dict):
            for key, value in entry.items():
                if not str(key).startswith(("override", "hydra")) and value is not None:
                    out[str(key)] = str(value)
    return out


def config_groups(conf: Path) -> dict[str, list[str]]:
    """Every group folder of `conf` (Hydra's own excluded), nested ones as `build/decontaminate_against`, and its
    options, the default first."""
    defaults = _defaults(conf)
    groups: dict[str, list[str]] = {}
    folders = (p for p in conf.rglob("*") if p.is_dir() and p.relative_to(conf).parts[0] != "hydra")
    for folder in sorted(folders, key=lambda p: p.relative_to(conf).as_posix()):
        name = folder.relative_to(conf).as_posix()
        options = sorted(p.stem for p in folder.glob("*.yaml"))
        default = defaults.get(name)
        if default in options:
            options.remove(default)
            options.insert(0, f"{default} (default)")
        groups[name] = options
    return groups


def groups_text(conf: Path | None = None) -> str:
    from lemma.config_data import REPO_ROOT

    conf = conf or REPO_ROOT / "conf"
    lines = [f"{group}: {', '.join(options)}" for group, options in config_groups(conf).items()]
    return "\n".join(lines)


def settings_text() -> str:
    """The top-level keys, with the stage and arm names the code knows (never a copy that drifts)."""
    from lemma.arms import ARMS
    from lemma.stage_names import STAGE_NAMES

    return (f"stage=all|{'|'.join(STAGE_NAMES)}, force=[<stage>,...], seed, data_seed, "
            f"arms=[{','.join(ARMS)}] (rows of the table)")


def register_resolver() -> None:
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("lemma_help_groups", lambda: groups_text(), replace=True)
    OmegaConf.register_new_resolver("lemma_help_settings", lambda: settings_text(), replace=True)
