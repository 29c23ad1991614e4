"""Every option of every config group, and every arm of every sweep, composes and passes the run's pre-flight.

The options are discovered from the folder listing (`conf/<group>/*.yaml`, `sweeps/*.yaml`), so a new option is
covered the day it is added; `test_discovery_is_not_vacuous` makes sure the listing found what it must.

"Validation" is what `run.py` does before any stage (`lemma.preflight.check`): unresolved values (`???`),
`lemma.config.validate` (cross-field rules, ranges), shipped benchmark/train files, the teacher's API key variable,
model sources, the training job's own checks and the memory pre-flight. Three checks there depend on the machine,
not the config, and are neutralised here (`preflight_check`): whether the Hugging Face hub is reachable (treated as
reachable, so no test touches the network), whether optional extras are installed (vllm, deepspeed, peft: a CPU CI
has none), and nothing else. OPENAI_API_KEY is removed unless a case sets it.

Each option validates on the embedded default (`python run.py group=option`), or it is listed in NEEDS with the
minimal overrides (and environment) that make it valid, *and* the text of the clear error the pre-flight prints
without them, which is asserted too: nothing is skipped. A real bug is a strict xfail naming it (KNOWN_BUGS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from lemma import preflight
from lemma.config import REPO_ROOT, LemmaConfigError
from lemma.sweep import expand_jobs

CONF = REPO_ROOT / "conf"
SWEEPS_DIR = REPO_ROOT / "sweeps"
HYDRA_OWN = {"hydra"}  # conf/hydra/job_logging etc. are Hydra's own groups, not lemma options


def _discover() -> list[tuple[str, str]]:
    return [(group.name, option.stem)
            for group in sorted(p for p in CONF.iterdir() if p.is_dir() and p.name not in HYDRA_OWN)
            for option in sorted(group.glob("*.yaml"))]


OPTIONS = _discover()
SWEEPS = sorted(SWEEPS_DIR.glob("*.yaml"))
# groups the primary config's defaults list names take `group=option`; the others (variant) need `+group=option`
DEFAULT_GROUPS = {next(iter(d)) for d in yaml.safe_load((CONF / "config.yaml").read_text())["defaults"]
                  if isinstance(d, dict)}

KEY = {"OPENAI_API_KEY": "sk-test-not-a-real-key"}
# the paper's run (conf/experiment/lemma_llama3_8b.yaml): real data, GPT-4o teacher, LLaMA3-8B on ZeRO-2 x 8 GPUs;
# its header documents the API key it needs
PAPER = ("experiment=lemma_llama3_8b",)
ARITH = ("data=arith", "benchmark=arith")  # the built-in world an LLM teacher serves (teacher.datasets lists arith)


@dataclass(frozen=True)
class Need:
    """What an option needs besides `group=option` to pass the pre-flight, and what is printed without it."""
    overrides: tuple[str, ...]
    without: str  # a substring of the pre-flight's error for plain `group=option` on the default: names key/fix
    env: dict[str, str] = field(default_factory=dict)
    why: str = ""


MATCHED_ARMS = "build.trajectory_share (matched arms) needs train.max_steps"
NEEDS: dict[tuple[str, str], Need] = {
    ("benchmark", "arith"): Need(("data=arith",), "benchmark.items.arith is the arith world's test split, but "
                                 "data=relations", why="the arith world's test split needs the arith world"),
    ("data", "arith"): Need(("benchmark=arith",), "benchmark.items.relations is the relations world's test split, "
                            "but data=arith", why="the default benchmark is the relations world's test split"),
    ("data", "gsm8k_math"): Need(PAPER, "teacher=symbolic cannot serve data=gsm8k_math", KEY,
                                 "real problems need an LLM teacher, a real model and a real benchmark"),
    ("data", "lemma_release"): Need((*PAPER, "arms=[base,lemma]"), "data=lemma_release holds the released LEMMA "
                                    "rows only", KEY, "the release has no train problems: only base and lemma arms"),
    ("experiment", "lemma_llama3_8b"): Need((), "environment variable OPENAI_API_KEY is not set", KEY,
                                            "GPT-4o teacher"),
    ("model", "checkpoint"): Need(("model.path={ckpt}",), "model.path is empty",
                                  why="a local Hugging Face folder (config.json, tokenizer, weights)"),
    **{("model", name): Need(PAPER, MATCHED_ARMS, KEY, "a real model brings the paper's recipe (train=paper, "
                             "3 epochs), which the toy world's step-matched arms cannot use; real data can")
       for name in ("llama3_8b", "mistral_7b", "deepseekmath_7b", "qwen2_math_7b", "llama3_70b")},
    ("train", "paper"): Need(PAPER, MATCHED_ARMS, KEY, "the paper's recipe trains by epochs"),
    ("train", "paper_offload"): Need(PAPER, MATCHED_ARMS, KEY, "the paper's recipe trains by epochs"),
    **{("teacher", name): Need(ARITH, f"teacher={name} does not list dataset(s) relations in teacher.datasets",
                               KEY if name in ("openai", "gpt4o", "gpt4o_mini") else {},
                               "LLM teachers do not serve the relations world (the symbolic teacher does)")
       for name in ("openai", "gpt4o", "gpt4o_mini", "vllm", "nemotron_70b", "hf")},
}

KNOWN_BUGS: dict[str, str] = {}  # case id -> the bug, for strict xfails (see the module docstring)


@pytest.fixture(autouse=True)
def _machine_independent(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network, no optional extras, no API key from the developer's shell (see the module docstring)."""
    monkeypatch.setattr(preflight, "hub_reachable", lambda: (True, ""))
    monkeypatch.setattr(preflight, "package_problems", lambda cfg, stages: [])
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)


def preflight_check(cfg: DictConfig) -> None:
    """`run.py`'s pre-flight on a composed config (raises LemmaConfigError with every problem)."""
    preflight.check(cfg)


def _problems(cfg: DictConfig) -> list[str]:
    try:
        preflight_check(cfg)
    except LemmaConfigError as exc:
        return exc.problems
    return []


def _override(group: str, option: str) -> str:
    return f"{'' if group in DEFAULT_GROUPS else '+'}{group}={option}"


def _compose_conf(root: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=[f"paths.root={root}", *overrides])


def _compose_sweep(name: str, root: Path, *overrides: str, hydra: bool = False) -> DictConfig:
    """As `run.py --config-dir sweeps --config-name <name>` (and tests/unit/test_sweeps.py) compose it."""
    with initialize_config_dir(config_dir=str(SWEEPS_DIR), version_base="1.3"):
        return compose(config_name=name, overrides=[f"hydra.searchpath=[file://{CONF}]", f"paths.root={root}",
                                                    *overrides], return_hydra_config=hydra)


def _ckpt(tmp_path: Path) -> Path:
    folder = tmp_path / "ckpt"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text("{}")
    return folder


# ------------------------------------------------------------------------------------------------------- discovery
def test_discovery_is_not_vacuous():
    found: dict[str, set[str]] = {}
    for group, option in OPTIONS:
        found.setdefault(group, set()).add(option)
    assert {"data", "teacher", "errors", "correction", "model", "train", "benchmark", "build", "logger", "variant",
            "experiment"} <= set(found), sorted(found)
    assert {"relations", "arith", "gsm8k_math"} <= found["data"]
    assert {"mix", "fix_only", "fresh_only"} <= found["correction"]
    assert {"tiny", "llama3_8b", "checkpoint"} <= found["model"]
    assert {"symbolic", "openai", "gpt4o"} <= found["teacher"]
    assert {"cpu", "zero2"} <= found["train"] and {"relations", "gsm8k", "paper"} <= found["benchmark"]
    assert {"mix", "own_errors"} <= found["variant"] and "lemma_llama3_8b" in found["experiment"]
    assert len(OPTIONS) >= 50
    assert "variant" not in DEFAULT_GROUPS and {"data", "model", "experiment"} <= DEFAULT_GROUPS
    assert {p.stem for p in SWEEPS} >= {"ablate_correction", "toy_science", "teachers", "seeds"}
    stale = sorted(set(NEEDS) - set(OPTIONS))
    assert not stale, f"NEEDS lists options that conf/ no longer has: {stale}"


# --------------------------------------------------------------------------------------------------------- options
GROUP_KEYS = {  # the composed value that names the chosen option, where the group has one
    "data": lambda c: c.data.name, "teacher": lambda c: c.teacher.name, "model": lambda c: c.model.name,
    "train": lambda c: c.train.name, "benchmark": lambda c: c.benchmark.name, "correction": lambda c: c.correction.name,
    "variant": lambda c: c.variant, "logger": lambda c: c.logger.kind,
}


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_passes_the_preflight(group: str, option: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    need = NEEDS.get((group, option), Need((), ""))
    for key, value in need.env.items():
        monkeypatch.setenv(key, value)
    extra = [o.format(ckpt=_ckpt(tmp_path)) for o in need.overrides]
    cfg = _compose_conf(tmp_path, *extra, _override(group, option))
    problems = _problems(cfg)
    assert not problems, f"{_override(group, option)} {' '.join(extra)}:\n" + "\n".join(problems)
    if group in GROUP_KEYS:  # the option really was applied (not shadowed by a preset in the overrides)
        assert GROUP_KEYS[group](cfg) == option, (group, option)


NEEDY = sorted(NEEDS)


@pytest.mark.parametrize(("group", "option"), NEEDY, ids=[f"{g}={o}" for g, o in NEEDY])
def test_option_without_its_needs_fails_with_a_clear_error(group: str, option: str, tmp_path: Path) -> None:
    """Plain `python run.py group=option` on the default: refused before any work, with the key or fix named."""
    need = NEEDS[(group, option)]
    assert need.why, "say why the option needs its overrides"
    problems = _problems(_compose_conf(tmp_path, _override(group, option)))
    assert problems, f"{group}={option} passes without {need.overrides}: drop its NEEDS entry"
    assert any(need.without in p for p in problems), "\n".join(problems)


def test_the_checkpoint_model_names_its_path_when_the_folder_is_not_a_checkpoint(tmp_path: Path) -> None:
    cfg = _compose_conf(tmp_path, "model=checkpoint", f"model.path={tmp_path}")
    assert any(f"model.path={tmp_path} is a folder without config.json" in p for p in _problems(cfg))
    cfg = _compose_conf(tmp_path, "model=checkpoint", "model.path=???")
    assert any("model.path is not set (its value is ???)" in p for p in _problems(cfg))


def test_the_llama3_70b_command_its_header_documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(*next(iter(KEY.items())))
    header = (CONF / "model" / "llama3_70b.yaml").read_text()
    command = "python run.py experiment=lemma_llama3_8b model=llama3_70b"
    assert f"`{command}`" in header
    problems = _problems(_compose_conf(tmp_path, *command.split()[2:]))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------------------- sweeps
def _sweep_arms(name: str, root: Path) -> list[list[str]]:
    """The jobs of the sweep's first seed: one per arm (the other seeds differ only in `seed=`)."""
    jobs = expand_jobs(_compose_sweep(name, root, hydra=True))
    first = next((o for o in jobs[0] if o.startswith("seed=")), None)
    return [j for j in jobs if first is None or first in j]


SWEEP_NEEDS: dict[str, Need] = {  # what a sweep needs besides its own file (every sweep: only what its header says)
    "teachers": Need((), "environment variable OPENAI_API_KEY is not set", KEY, "its header: GPT-4o and vLLM teachers"),
}
SWEEP_CASES = [pytest.param(p.stem, marks=pytest.mark.xfail(strict=True, raises=AssertionError,
                                                              reason=KNOWN_BUGS[f"sweep-{p.stem}"]))
               if f"sweep-{p.stem}" in KNOWN_BUGS else p.stem for p in SWEEPS]


@pytest.mark.parametrize("sweep", SWEEP_CASES)
def test_sweep_arms_pass_the_preflight_as_documented(sweep: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`python run.py --config-dir sweeps --config-name <sweep>` as the sweep's header documents it (the teachers
    sweep with its API key): each arm of the first seed passes the pre-flight."""
    if sweep in SWEEP_NEEDS:
        for key, value in SWEEP_NEEDS[sweep].env.items():
            monkeypatch.setenv(key, value)
    arms = _sweep_arms(sweep, tmp_path)
    assert len(arms) >= 1
    for job in arms:
        problems = _problems(_compose_sweep(sweep, tmp_path, *job))
        assert not problems, f"{sweep} {' '.join(job)}:\n" + "\n".join(problems)


def test_the_teachers_sweep_without_its_key_names_it(tmp_path: Path) -> None:
    need = SWEEP_NEEDS["teachers"]
    arms = _sweep_arms("teachers", tmp_path)
    without = _problems(_compose_sweep("teachers", tmp_path, *arms[0]))
    assert any(need.without in p for p in without), "\n".join(without)
