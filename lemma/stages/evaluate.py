"""evaluate: one arm's model on every benchmark of `benchmark=`, graded twice, with self-correction and error analysis.

The paper's protocol (METHOD.md §7): the cot-meta-math prompt shared with training, its stop strings, greedy decoding,
1024 new tokens, zero-shot except the 4 GSM8K demos for ASDiv, MAWPS and SVAMP. Files are checked against their
pinned hashes before anything is generated. Generations are checkpointed per benchmark in the stage's work folder (a
killed run resumes) and written to `generations.jsonl` with both verdicts, so a run can be re-graded without a model.
`metrics.json` carries one row per benchmark (EVALUATION.md §6.1) and the paper's averages; when the configured teacher
serves a benchmark's dataset, the wrong answers get error types (paper Figs. 6/8) in `error_types.json`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig

from lemma.artifacts import Artifact, write_json
from lemma.benchmarks import Benchmark, BenchmarkFileError, build_prompt, check_files, load_benchmark
from lemma.evaluation import Graders, error_analysis, score_benchmark, teacher_serves
from lemma.generation import Generation, SamplingSpec, choose_backend, generate
from lemma.metrics import suite_averages
from lemma.pipeline import Stage, StageContext
from lemma.prompt_format import STOP_STRINGS, get_format
from lemma.records import write_jsonl
from lemma.stages.problems import builtin_benchmark_path

# The artifact's files; consumers call read_generations and read_metrics.
GENERATIONS_FILE, METRICS_FILE, ERROR_TYPES_FILE = "generations.jsonl", "metrics.json", "error_types.json"


def read_generations(artifact: Artifact) -> list[dict[str, Any]]:
    """Every generation of every benchmark, in order, as written (benchmark, id, sample, text, both verdicts, ...)."""
    with artifact.file(GENERATIONS_FILE).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_metrics(artifact: Artifact) -> dict[str, Any]:
    """One row per benchmark under "benchmarks", the suite's averages, the decoding and the error types."""
    return json.loads(artifact.file(METRICS_FILE).read_text())


def needs(cfg: DictConfig, arm: str | None) -> tuple[str, ...]:
    return (model_node(arm), "problems")


def model_node(arm: str | None) -> str:
    if arm is None:
        raise ValueError("evaluate runs per arm (evaluate.base, evaluate.sft, evaluate.lemma)")
    return "base" if arm == "base" else f"train.{arm}"


def run(ctx: StageContext) -> dict[str, Any]:
    from lemma.model import model_path

    cfg, b = ctx.cfg, ctx.cfg.benchmark
    problems = check_files(b)
    if problems:
        raise BenchmarkFileError("benchmark files do not match their config:\n" + "\n".join(problems))
    model = model_path(ctx.input(model_node(ctx.arm)))
    held_out = ctx.input("problems")  # a built-in world's test (or dev) split
    benches = [load_benchmark(item, limit=b.limit, builtin_path=builtin_benchmark_path(held_out, str(item.split)))
               for item in b["items"].values()]
    for item in b["items"].values():
        if str(item.prompt_format) != str(cfg.model.prompt_format):
            ctx.log.warning("benchmark %s prompts with %s, but the model was trained with %s", item.name,
                            item.prompt_format, cfg.model.prompt_format)
    rows: list[dict[str, Any]] = []
    per_bench: dict[str, dict[str, Any]] = {}
    error_types: dict[str, dict[str, int]] = {}
    labels: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    graders, own = _graders(ctx)
    try:
        # All generation first, on one engine (kept in the run's Services), then that engine is shut down: a local
        # teacher that labels the wrong answers below needs the GPU memory the evaluated model's engine held.
        generated = {bench.name: _generations(ctx, bench, model, *_prompts_and_budget(ctx, bench))
                     for bench in benches}
        sampled = {bench.name: _sampled(ctx, bench, model) for bench in benches} \
            if b.also_sampled_temperature is not None else {}
        ctx.services.release_for(f"{ctx.node}'s grading and error analysis", ("teacher",))
        for bench in benches:
            bench_rows, per_bench[bench.name] = _score(ctx, bench, generated[bench.name], graders)
            rows += bench_rows
            if bench.name in sampled:
                per_bench[bench.name]["sampled"] = _score_sampled(ctx, bench, sampled[bench.name], graders)
            reason = _no_error_analysis(cfg, bench)
            if reason:
                skipped[bench.name] = reason
            else:
                counts, bench_labels = error_analysis(ctx.teacher, bench, bench_rows)
                error_types[bench.name] = dict(sorted(counts.items()))
                labels += bench_labels
    finally:
        for grader in own:
            grader.close()
    return _write(ctx, model, rows, per_bench, error_types, labels, skipped)


def _prompts_and_budget(ctx: StageContext, bench: Benchmark) -> tuple[list[str], int]:
    return ([build_prompt(p.question, bench.item) for p in bench.problems],
            int(ctx.cfg.benchmark.max_new_tokens or bench.item.max_new_tokens))


def _score(ctx: StageContext, bench: Benchmark, gens: list[list[Generation]],
           graders: Graders) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from lemma.progress import ProgressGrader

    prompts, budget = _prompts_and_budget(ctx, bench)
    with ctx.progress(f"grade {bench.name}", 0, unit="answers") as progress:
        primary = ProgressGrader(graders.primary, progress)
        qwen = primary if graders.qwen is graders.primary else (
            ProgressGrader(graders.qwen, progress) if graders.qwen is not None else None)
        rows, metrics = score_benchmark(bench, prompts, gens, Graders(primary, qwen), max_new_tokens=budget,
                                        first_judge=_first_judge(bench))
    ctx.log.info("%s: acc %s on %d problems (%d truncated, %d grader timeouts)", bench.name, metrics["acc"],
                 len(bench.problems), metrics["truncated"], metrics["timeouts"])
    return rows, metrics


def _sampled(ctx: StageContext, bench: Benchmark, model: str) -> list[list[Generation]]:
    """One sample per problem at benchmark.also_sampled_temperature, beside the main (greedy) decoding."""
    prompts, budget = _prompts_and_budget(ctx, bench)
    b = ctx.cfg.benchmark
    spec = SamplingSpec(n=1, temperature=float(b.also_sampled_temperature), top_p=b.top_p, max_new_tokens=budget,
                        stop=STOP_STRINGS, seed=b.seed)
    return _generations(ctx, bench, model, prompts, budget, spec, tag=".sampled")


def _score_sampled(ctx: StageContext, bench: Benchmark, gens: list[list[Generation]],
                   graders: Graders) -> dict[str, Any]:
    """pass@1 and the self-correction figures of the sampled decoding (qwen_compat is not repeated)."""
    prompts, budget = _prompts_and_budget(ctx, bench)
    _, metrics = score_benchmark(bench, prompts, gens, Graders(graders.primary, None), max_new_tokens=budget,
                                 first_judge=_first_judge(bench))
    keep = ("acc", "first_attempt_acc", "reflect_rate", "wrong_to_right_n", "right_to_wrong_n", "truncated",
            "acc_by_depth")
    return {"temperature": float(ctx.cfg.benchmark.also_sampled_temperature), **{k: metrics.get(k) for k in keep}}


def _first_judge(bench: Benchmark) -> Any:
    """A built-in world's checker judges first attempts (its reflections come before any answer is stated)."""
    if str(bench.item.source) != "builtin":
        return None
    from lemma.teacher.symbolic import first_attempt_judge

    return first_attempt_judge(str(bench.item.gold_kind))


def _no_error_analysis(cfg: DictConfig, bench: Benchmark) -> str | None:
    """Why this benchmark's wrong answers get no error types, or None when the teacher can label them."""
    if not cfg.benchmark.error_analysis:
        return "benchmark.error_analysis=false"
    if not teacher_serves(cfg.teacher, bench.item):
        return (f"teacher={cfg.teacher.name} does not serve dataset {bench.item.gold_kind} "
                f"(teacher.datasets={list(cfg.teacher.datasets)})")
    return None


def _graders(ctx: StageContext) -> tuple[Graders, list[Any]]:
    """The primary grader (the shared one when it is math_verify) and a qwen_compat one; returns those to close."""
    from lemma.grading import Grader

    b = ctx.cfg.benchmark
    mode = str(b.grader)
    own: list[Any] = []

    def make(m: str) -> Any:
        own.append(Grader(mode=m, timeout_s=b.grader_timeout_s, workers=b.grader_workers))
        return own[-1]

    primary = ctx.grader if mode == "math_verify" else make(mode)
    qwen = primary if mode == "qwen_compat" else (make("qwen_compat") if b.also_qwen_compat else None)
    return Graders(primary, qwen), own


def _backend(cfg: DictConfig) -> str:
    """generation.backend with `auto` resolved (vLLM on a CUDA node that has it), as recorded in metrics.json."""
    return choose_backend(str(cfg.generation.backend), model_kind=str(cfg.model.kind))


def _spec(cfg: DictConfig, budget: int) -> SamplingSpec:
    b = cfg.benchmark
    return SamplingSpec(n=b.n_samples, temperature=b.temperature, top_p=b.top_p, max_new_tokens=budget,
                        stop=STOP_STRINGS, seed=b.seed)


def _generations(ctx: StageContext, bench: Benchmark, model: str, prompts: Sequence[str],
                 budget: int, spec: SamplingSpec | None = None, tag: str = "") -> list[list[Generation]]:
    """Generate, or reuse this benchmark's checkpoint from an interrupted run of the same key."""
    cfg = ctx.cfg
    spec = spec or _spec(cfg, budget)
    digest = hashlib.sha256(json.dumps([model, list(prompts), repr(spec)]).encode()).hexdigest()
    checkpoint = ctx.work_dir() / f"{bench.name}{tag}.generations.json"
    if checkpoint.is_file():
        saved = json.loads(checkpoint.read_text())
        if saved.get("digest") == digest:
            ctx.log.info("%s: reusing %d checkpointed generations", bench.name, len(saved["generations"]))
            return [[Generation(**g) for g in per] for per in saved["generations"]]
    g = cfg.generation
    with ctx.progress(f"generate {bench.name}", len(prompts) * spec.n, unit="samples") as progress:
        gens = generate(model, prompts, spec, backend=_backend(cfg), batch_size=cfg.benchmark.batch_size,
                        device=g.device, tensor_parallel_size=g.tensor_parallel_size, dtype=cfg.model.dtype,
                        gpu_memory_utilization=g.gpu_memory_utilization, engines=ctx.services.engines,
                        progress=progress)
    write_json(checkpoint, {"digest": digest, "generations": [[vars(x) for x in per] for per in gens]})
    return gens


def _write(ctx: StageContext, model: str, rows: list[dict[str, Any]], per_bench: dict[str, dict[str, Any]],
           error_types: dict[str, dict[str, int]], labels: list[dict[str, Any]],
           skipped: dict[str, str]) -> dict[str, Any]:
    from lemma.grading import GRADER_VERSION

    cfg, b = ctx.cfg, ctx.cfg.benchmark
    write_jsonl(ctx.out / GENERATIONS_FILE, rows)
    decoding = {"temperature": b.temperature, "top_p": b.top_p, "n_samples": b.n_samples, "seed": b.seed,
                "stop": list(STOP_STRINGS), "max_new_tokens_override": b.max_new_tokens,
                "backend": _backend(cfg)}
    metrics = {"benchmarks": per_bench, "order": list(per_bench), **suite_averages(per_bench), "grader": GRADER_VERSION,
               "grader_mode": str(b.grader), "model": model, "arm": ctx.arm, "suite": b.name, "limit": b.limit,
               "decoding": decoding, "error_types": error_types, "error_analysis_skipped": skipped}
    write_json(ctx.out / METRICS_FILE, metrics)
    if error_types:
        write_json(ctx.out / ERROR_TYPES_FILE, {"counts": error_types, "labels": labels})
    return {"model": model, "acc": {name: m["acc"] for name, m in per_bench.items()},
            "average": metrics["average"], "average_id": metrics["average_id"],
            "average_ood": metrics["average_ood"], "samples": len(rows),
            "truncated": sum(m["truncated"] for m in per_bench.values()),
            "timeouts": sum(m["timeouts"] for m in per_bench.values()),
            "error_analysis": sorted(error_types), "error_analysis_skipped": skipped}


def _files(cfg: DictConfig) -> dict[str, bytes]:
    """Bytes that decide the results besides the config: grader version, templates, demos, reflection phrases and
    the teacher's classify prompt (the error analysis)."""
    from lemma.demos import demo_bytes
    from lemma.grading import GRADER_VERSION
    from lemma.prompts import prompt_files
    from lemma.reflection import REFLECTION_PHRASES

    formats = sorted({str(i.prompt_format) for i in cfg.benchmark["items"].values()} | {str(cfg.model.prompt_format)})
    return {"grader": GRADER_VERSION.encode(), "reflection_phrases": "\n".join(REFLECTION_PHRASES).encode(),
            **{f"prompt_format/{f}": get_format(f).sha256.encode() for f in formats}, **demo_bytes(),
            **_unpinned_file_hashes(cfg), **prompt_files(cfg, "classify")}


def _unpinned_file_hashes(cfg: DictConfig) -> dict[str, bytes]:
    """An item's path is not part of the key (its pinned sha256 is); an unpinned file's content must be, instead."""
    from pathlib import Path

    from lemma.benchmarks import file_sha256

    return {f"benchmark_file/{item.name}": file_sha256(Path(str(item.path))).encode()
            for item in cfg.benchmark["items"].values()
            if str(item.source) == "file" and item.sha256 is None and Path(str(item.path)).is_file()}


# teacher: the error analysis asks it for the error types of wrong answers (error_types.json), and whether it serves a
# benchmark (teacher.datasets) decides which benchmarks get them; evaluate.base and evaluate.sft have no teacher stage
# among their ancestors, so without it a changed teacher would reuse another teacher's labels.
STAGE = Stage(name="evaluate", run=run, needs=needs, keys=("benchmark", "model.prompt_format", "teacher"), version=2,
              files=_files, uses=("student", "teacher"))

