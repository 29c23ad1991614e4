"""The run's pre-flight: everything that can be checked before the first stage, gathered into one LemmaConfigError.

A long run must not die in its third hour on something knowable at second zero. So before any stage runs, and
before any heavy import, `check(cfg)` looks at:
- the config itself: every value resolves (no `???`, no broken `${...}`), cross-field rules and the range of every
  numeric field (`lemma.config_checks.validate`, `lemma.ranges`);
- which nodes will really run (not cached, or forced), so that the checks below ask only for what the run needs:
  a rerun whose teacher stages are cached does not need the API key;
- every file those nodes read: benchmark files and their pinned hashes, the decontamination targets of real data
  (build.decontaminate_against), the GSM8K/MATH train files and their hashes, the release data;
- the teacher: `teacher.base_url` is an http(s) URL, the variable `teacher.api_key_env` names is set (its value is
  never read into a message), the optional packages a backend needs are installed;
- models given by hub name are in the local Hugging Face cache or the hub is reachable; local folders exist;
- the training job's own checks (batch plan, backend, ZeRO options) and the memory pre-flight.
Each problem is one line naming the key or file and the fix.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue, OmegaConfBaseException

from lemma.config_checks import LemmaConfigError, validate
from lemma.config_data import BUILTIN_WORLDS, DataKind, DataSource
from lemma.config_models import BenchmarkSource, TrainBackend
from lemma.stage_names import STAGE_NAMES

log = logging.getLogger(__name__)

TEACHER_STAGES = frozenset({"classify", "inject", "locate", "correct", "smooth"})
MODEL_STAGES = frozenset({"base", "sample", "train", "evaluate"})
HUB_PROBE_TIMEOUT_S = 3.0


def check(cfg: DictConfig) -> list[str]:
    """Raise one LemmaConfigError with every problem found; returns the nodes that will run (not cached)."""
    problems = unresolved_values(cfg)
    if problems:  # everything below reads values; report these first
        raise LemmaConfigError(problems)
    try:
        validate(cfg)
    except LemmaConfigError as exc:
        problems += exc.problems
    pending = None if problems else pending_nodes(cfg)
    stages = {n.partition(".")[0] for n in pending} if pending is not None else _all_stages()
    if any(p.startswith("train.") for p in problems):
        stages.discard("train")  # the job's own checks would repeat the out-of-range train values
    problems += environment_problems(cfg, stages)
    if problems:
        raise LemmaConfigError(problems)
    return pending or []


def _all_stages() -> set[str]:
    return set(STAGE_NAMES)


# ------------------------------------------------------------------------------------------------------ the config
def unresolved_values(cfg: DictConfig) -> list[str]:
    """Keys whose value is missing (`???`) or whose interpolation cannot resolve, one line each."""
    problems: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
        for key in keys:
            path = f"{prefix}.{key}" if prefix else str(key)
            if path == "hydra":
                continue
            try:
                value = node[key]
            except MissingMandatoryValue:
                problems.append(f"{path} is not set (its value is ???): give it on the command line, {path}=...")
                continue
            except (InterpolationResolutionError, OmegaConfBaseException) as exc:
                first = str(exc).splitlines()[0]
                problems.append(f"{path} cannot be resolved: {first}")
                continue
            if OmegaConf.is_config(value):
                walk(value, path)

    walk(cfg, "")
    return problems


def pending_nodes(cfg: DictConfig) -> list[str]:
    """The nodes `stage=` selects that have no committed artifact (or are forced): what this run will compute."""
    from lemma.artifacts import ArtifactStore
    from lemma.pipeline import descendants, needs_of, node_key, node_names, select, split_node

    store = ArtifactStore(Path(cfg.paths.artifacts).resolve())
    forced = descendants(cfg, {n for n in node_names(cfg) if split_node(n)[0] in set(cfg.force)})
    keys: dict[str, str] = {}
    pending = []
    for node in select(cfg, cfg.stage):
        keys[node], _ = node_key(cfg, node, {p: keys[p] for p in needs_of(cfg, node)})
        if node in forced or store.get(split_node(node)[0], keys[node]) is None:
            pending.append(node)
    return pending


# ------------------------------------------------------------------------------------------------- the environment
def environment_problems(cfg: DictConfig, stages: set[str]) -> list[str]:
    """Files, credentials, endpoints, models, packages and the training job, for the stages that will run."""
    problems = [*benchmark_item_problems(cfg), *data_problems(cfg, stages), *teacher_problems(cfg, stages),
                *model_problems(cfg, stages), *package_problems(cfg, stages)]
    return problems + training_problems(cfg, stages)


def benchmark_item_problems(cfg: DictConfig) -> list[str]:
    """A hub item without a dataset name (source, role and format are enums: Hydra checks them when it composes)."""
    problems = []
    for name, item in cfg.benchmark["items"].items():
        if item.source == BenchmarkSource.hub and not item.hub_name:
            problems.append(f"benchmark.items.{name}.source=hub needs benchmark.items.{name}.hub_name; no hub "
                            "dataset holds this copy, so use source=file (the project ships it under data/)")
    return problems


def data_problems(cfg: DictConfig, stages: set[str]) -> list[str]:
    from lemma.benchmarks import check_files, target_file_problems
    from lemma.data import train_file_problems

    d = cfg.data
    problems: list[str] = _min_above_max(cfg, ("data.min_ops", "data.max_ops"), ("data.world.min_depth",
                                         "data.world.max_depth"), ("data.world.min_people", "data.world.max_people"),
                                         ("model.tiny.gate.min_acc", "model.tiny.gate.max_acc"))
    if d.kind != "release" and d.release_path:
        problems.append(f"data.release_path is set, but data={d.name} does not read the released set; "
                        "use data=lemma_release or drop data.release_path")
    if "evaluate" in stages:
        problems += check_files(cfg.benchmark)
    if "build" in stages and cfg.build.decontaminate and d.kind not in BUILTIN_WORLDS:  # a world: its test split
        problems += target_file_problems(cfg.build)
    if "problems" in stages and d.kind == DataKind.files and d.source == DataSource.local:
        problems += train_file_problems(d)
    if "build" in stages and d.kind == "release":
        problems += release_file_problems(d)
    return problems


def _min_above_max(cfg: DictConfig, *pairs: tuple[str, str]) -> list[str]:
    """`low <= high` for each (low key, high key) pair present in the config."""
    problems = []
    for low, high in pairs:
        lo, hi = OmegaConf.select(cfg, low), OmegaConf.select(cfg, high)
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo > hi:
            problems.append(f"{low}={lo} is larger than {high}={hi}")
    return problems


def release_file_problems(d: DictConfig) -> list[str]:
    """The released SFT file exists and, when `data.release_sha256` pins it, is that copy."""
    from lemma.benchmarks import file_sha256

    if not d.release_path:
        return ["data.release_sha256 pins a file, but data.release_path is null (the hub copy is not pinned); set "
                "data.release_path to the pinned file or drop the pin"] if d.release_sha256 else []
    path = Path(d.release_path)
    if not path.is_file():
        return [f"data.release_path: no file {path}; point it at the released LEMMA json/jsonl/parquet, or leave "
                f"it null to read {d.release_hub} from the hub"]
    if d.release_sha256 and file_sha256(path) != str(d.release_sha256).lower():
        return [f"data.release_sha256: {path} has sha256 {file_sha256(path)}, but the config pins "
                f"{d.release_sha256}; restore the pinned copy, or set data.release_sha256={file_sha256(path)} to use "
                "this one on purpose"]
    return []


def teacher_problems(cfg: DictConfig, stages: set[str]) -> list[str]:
    t = cfg.teacher
    if str(t.backend) != "openai":
        return []
    problems = []
    if t.base_url is not None:
        url = urlparse(str(t.base_url))
        if url.scheme not in ("http", "https") or not url.netloc or " " in str(t.base_url):
            problems.append(f"teacher.base_url={t.base_url!r} is not an http(s) URL; give the endpoint's base, "
                            "e.g. https://api.openai.com/v1 or http://localhost:8000/v1 (null = OpenAI's)")
    users = sorted(stages & TEACHER_STAGES) + (["evaluate (error analysis)"] if _evaluate_asks_teacher(cfg, stages)
                                               else [])
    if users and not t.get("dry_run", False) and not os.environ.get(str(t.api_key_env)):  # a dry run sends nothing
        problems.append(f"teacher.api_key_env: the environment variable {t.api_key_env} is not set (or empty), and "
                        f"teacher={t.name} needs it for {', '.join(users)}; export {t.api_key_env}=<your key> (a "
                        "local server without authentication accepts any non-empty value), or set "
                        "teacher.api_key_env to the name of the variable that holds it")
    return problems


def _evaluate_asks_teacher(cfg: DictConfig, stages: set[str]) -> bool:
    from lemma.evaluation import teacher_serves

    return ("evaluate" in stages and bool(cfg.benchmark.error_analysis)
            and any(teacher_serves(cfg.teacher, item) for item in cfg.benchmark["items"].values()))


def model_problems(cfg: DictConfig, stages: set[str]) -> list[str]:
    problems = []
    if str(cfg.model.kind) == "hf" and stages & MODEL_STAGES:
        problems += model_source_problems("model.path", str(cfg.model.path or ""))
    if "sample" in stages and cfg.sample.student:
        problems += model_source_problems("sample.student", str(cfg.sample.student))
    if str(cfg.teacher.backend) in ("hf", "vllm") and (stages & TEACHER_STAGES or _evaluate_asks_teacher(cfg, stages)):
        problems += model_source_problems("teacher.model", str(cfg.teacher.model))
    return problems


def model_source_problems(key: str, ref: str) -> list[str]:
    """A local checkpoint folder that exists, or a hub name that is cached or downloadable from here."""
    if not ref:
        return [f"{key} is empty: set it to a hub name (e.g. meta-llama/Meta-Llama-3-8B) or a local checkpoint folder"]
    path = Path(ref).expanduser()
    if path.exists():
        if path.is_dir() and not (path / "config.json").is_file():
            return [f"{key}={ref} is a folder without config.json; point it at a Hugging Face checkpoint folder "
                    "(config.json, tokenizer files and weights)"]
        return []
    if _looks_local(ref):
        return [f"{key}={ref}: no such folder; point it at a local checkpoint folder or give a hub name"]
    if in_hf_cache(ref):
        return []
    reachable, why = hub_reachable()
    if reachable:
        log.info("%s=%s is not in the local Hugging Face cache; it will be downloaded", key, ref)
        return []
    return [f"{key}={ref} is not in the local Hugging Face cache ({_hf_cache_dir()}) and the hub cannot be reached "
            f"({why}): this machine looks offline. Download it where there is network (huggingface-cli download "
            f"{ref}) and copy the cache folder here, or set {key} to a local folder holding config.json, the "
            f"tokenizer and the weights (e.g. {key}=/models/{ref.split('/')[-1]})"]


def _looks_local(ref: str) -> bool:
    return ref.startswith(("/", ".", "~")) or ref.count("/") != 1 or os.sep != "/" and os.sep in ref


def in_hf_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency of transformers
        return False
    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return str(HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return "~/.cache/huggingface/hub"


def hub_reachable() -> tuple[bool, str]:
    """(reachable, why not): offline switches first, then one TCP connection to the hub with a short timeout."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return False, f"{var} is set"
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError as exc:
        return False, f"{host}:{port}: {type(exc).__name__}"
    return True, ""


def package_problems(cfg: DictConfig, stages: set[str]) -> list[str]:
    """Optional extras a chosen backend needs, named with the pip command that installs them."""
    needed = []
    if str(cfg.generation.backend) == "vllm" and stages & {"sample", "evaluate"}:
        needed.append(("vllm", "generation.backend=vllm", ".[gpu]"))
    if str(cfg.teacher.backend) == "vllm" and stages & TEACHER_STAGES:
        needed.append(("vllm", "teacher=vllm", ".[gpu]"))
    if cfg.train.backend == TrainBackend.deepspeed and stages & {"train", "base"}:
        needed.append(("deepspeed", f"train={cfg.train.name} (train.backend=deepspeed)", ".[train]"))
    if cfg.train.lora and "train" in stages:
        needed.append(("peft", "train.lora=true", ".[train]"))
    return [f"{what} needs the {module} package, which is not installed: pip install -e '{extra}'"
            for module, what, extra in needed if importlib.util.find_spec(module) is None]


def training_problems(cfg: DictConfig, stages: set[str]) -> list[str]:
    """The training job's own checks and the memory pre-flight, on the job `train` would launch."""
    if "train" not in stages:
        return []
    from lemma.training import preflight as memory
    from lemma.training.job import TrainJobError, from_config, validate as validate_job

    where = Path(cfg.paths.artifacts)
    job = from_config(cfg.train, cfg.model, model_path=str(cfg.model.path or "tiny"), data_path=where / "rows.jsonl",
                      output_dir=where / "model", checkpoint_dir=where / "work")
    try:
        validate_job(job)
        memory.check(job, float(cfg.model.params_b), str(cfg.model.path or cfg.model.name))
    except (TrainJobError, memory.PreflightError) as exc:
        return [str(exc)]
    return []
