"""sample: the student solves the train problems, n samples each at the configured temperature, each graded.

Paper §3.1: LLaMA3-8B at T=0.7 on GSM8K and MATH train. The original has no script for this step and does not record
n; here n, temperature, shots and the prompt are config values, and every sample keeps its extracted answer and
verdict, so the classify stage sees only real, graded errors. The original's samples came from its evaluation
harness run on the train split, so the token budget defaults to the evaluation's 1024 (a MATH solution cut at 256
tokens would be graded wrong and then paid for as an "error"), `sample.shots` puts the evaluation's GSM8K demos
(lemma.demos) before each question, and `generation.backend=auto` samples with vLLM on a GPU node that has it.
Generation and grading report progress as they go (lemma.progress).
"""

from __future__ import annotations

from typing import Any

from lemma.artifacts import Artifact
from lemma.demos import demo_bytes, shots_for
from lemma.generation import SamplingSpec, choose_backend, generate
from lemma.pipeline import Stage, StageContext
from lemma.prompt_format import STOP_STRINGS, get_format
from lemma.records import Attempt, read_jsonl, write_jsonl
from lemma.stages.problems import read_train

ATTEMPTS_FILE = "attempts.jsonl"  # every graded sample; consumers call read_attempts


def read_attempts(artifact: Artifact) -> list[Attempt]:
    """Every sample of every problem, graded (`correct`, `extracted`)."""
    return read_jsonl(artifact.file(ATTEMPTS_FILE), Attempt)


def read_student(artifact: Artifact) -> str | None:
    """The model that made the samples, as recorded in the manifest: build puts it on every SFT row's lineage."""
    return artifact.manifest["stats"].get("student")


def summary(stats: dict[str, Any]) -> list[str]:
    """The report's data line for these stats."""
    return [f"- **sample**: {stats['attempts']} student attempts on {stats['problems']} problems, "
            f"{stats['accuracy']}% correct; {stats['problems_with_errors']} problems with at least one error."]


def run(ctx: StageContext) -> dict[str, Any]:
    from lemma.model import model_path

    cfg = ctx.cfg
    problems = read_train(ctx.input("problems"))
    if cfg.sample.limit is not None:
        problems = problems[: cfg.sample.limit]
    student = cfg.sample.student or model_path(ctx.input("base"))
    fmt = get_format(cfg.model.prompt_format)
    spec = SamplingSpec(n=cfg.sample.n, temperature=cfg.sample.temperature, top_p=cfg.sample.top_p,
                        max_new_tokens=cfg.sample.max_new_tokens, stop=STOP_STRINGS, seed=cfg.sample.seed)
    backend = choose_backend(str(cfg.generation.backend), model_kind=None if cfg.sample.student else str(cfg.model.kind))
    shots = shots_for(int(cfg.sample.shots))
    ctx.log.info("sampling %d problems x %d from %s (%s, %d-shot, up to %d new tokens)", len(problems), spec.n,
                 student, backend, len(shots), spec.max_new_tokens)
    with ctx.progress("generate", len(problems) * spec.n, unit="samples") as progress:
        outputs = generate(student, [fmt.render(p.question, shots=shots) for p in problems], spec, backend=backend,
                           batch_size=cfg.sample.batch_size, device=cfg.generation.device,
                           tensor_parallel_size=cfg.generation.tensor_parallel_size,
                           gpu_memory_utilization=cfg.generation.gpu_memory_utilization,
                           engines=ctx.services.engines, progress=progress)
    texts = [(p, k, g) for p, gens in zip(problems, outputs) for k, g in enumerate(gens)]
    from lemma.progress import ProgressGrader

    with ctx.progress("grade", 0, unit="answers") as progress:
        # Generation objects carry `truncated`: a sample cut off before any answer is wrong, never a lucky number
        verdicts = ProgressGrader(ctx.grader, progress).grade([g for _, _, g in texts],
                                                              [p.gold for p, _, _ in texts])
    attempts = [Attempt(id=f"{p.id}-s{k}", problem_id=p.id, sample_index=k, text=g.text, extracted=v.extracted,
                        correct=v.correct) for (p, k, g), v in zip(texts, verdicts)]
    write_jsonl(ctx.out / ATTEMPTS_FILE, attempts)
    wrong_problems = {a.problem_id for a in attempts if not a.correct}
    n_correct = sum(a.correct for a in attempts)
    return {"student": student, "problems": len(problems), "attempts": len(attempts), "correct": n_correct,
            "accuracy": round(100 * n_correct / max(1, len(attempts)), 1), "problems_with_errors": len(wrong_problems),
            "truncated": sum(g.truncated for _, _, g in texts), "grading_timeouts": sum(v.timed_out for v in verdicts),
            "backend": backend, "shots": len(shots)}


def _files(cfg: Any) -> dict[str, bytes]:
    demos = demo_bytes() if int(cfg.sample.shots) else {}  # the demos shown decide the samples
    return {"prompt_format": get_format(cfg.model.prompt_format).sha256.encode(), **demos}


STAGE = Stage(name="sample", run=run, needs=lambda cfg, arm: ("problems", "base"), keys=("sample",),
              files=_files, uses=("student",))
