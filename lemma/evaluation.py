"""Score one benchmark's generations: grade, grade again with qwen_compat, vote, and measure self-correction.

Kept apart from the evaluate stage so that a run can be re-graded from its `generations.jsonl` without a model, and so
that tests can score handcrafted generations. Every number that EVALUATION.md §6.1 asks a result row to carry is
produced here: grader timeouts, empty predictions, generations cut at the token limit, the qwen_compat accuracy and
the disagreements between the two graders (count plus a sample of ids).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lemma.benchmarks import Benchmark, prompt_sha
from lemma.generation import Generation
from lemma.metrics import (ReflectionSample, ks_for, maj_at_k_table, pass_at_k_table, percent, self_correction)
from lemma.reflection import split_first_attempt

FirstJudge = Callable[[Any, str], bool]  # (problem, text before the first reflection) -> right so far
DISAGREEMENT_SAMPLE = 5  # ids of grader disagreements kept in metrics.json


@dataclass
class Graders:
    """The primary grader (benchmark.grader) and, when wanted, a qwen_compat one (may be the same object)."""
    primary: Any
    qwen: Any | None = None


def score_benchmark(bench: Benchmark, prompts: Sequence[str], gens: Sequence[Sequence[Generation]], graders: Graders,
                    *, max_new_tokens: int,
                    first_judge: FirstJudge | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(generations.jsonl rows, the benchmark's metrics.json entry).

    `first_judge(problem, first_attempt)` says whether the text before a response's first reflection is right so
    far; without it the answer that text states is graded. A built-in world passes its checker: its reflections
    come mid-solution, before any answer is stated, and "no error in the lines so far" is what a first attempt
    can get right.
    """
    flat = [(i, k, g) for i, per in enumerate(gens) for k, g in enumerate(per)]
    texts = [g.text for _, _, g in flat]
    golds = [bench.problems[i].gold for i, _, _ in flat]
    generations = [g for _, _, g in flat]  # with their `truncated` flags: cut off before an answer = wrong
    before = graders.primary.timeouts
    verdicts = graders.primary.grade(generations, golds)
    timeouts = graders.primary.timeouts - before
    qwen = _qwen_verdicts(graders, generations, golds, verdicts)
    firsts = _first_attempts(graders.primary, texts, golds, [bench.problems[i] for i, _, _ in flat], first_judge)
    rows = [_row(bench, prompts[i], i, k, g, v, q, f)
            for (i, k, g), v, q, f in zip(flat, verdicts, qwen or [None] * len(flat), firsts, strict=True)]
    metrics = _metrics(bench, rows, graders, timeouts, max_new_tokens)
    return rows, metrics


def _qwen_verdicts(graders: Graders, generations: list[Generation], golds: list[str],
                   primary: list[Any]) -> list[Any] | None:
    if graders.qwen is None:
        return None
    if graders.qwen is graders.primary:
        return primary
    return graders.qwen.grade(generations, golds)


@dataclass(frozen=True)
class _Judged:
    correct: bool
    extracted: str | None = None


def _first_attempts(grader: Any, texts: list[str], golds: list[str], problems: list[Any],
                    judge: FirstJudge | None) -> list[tuple[Any, float] | None]:
    """Per response: (verdict of the text before its first reflection, share of text from there on), or None."""
    todo: list[tuple[int, str, str]] = []  # (index, first attempt, rest)
    for i, text in enumerate(texts):
        split = split_first_attempt(text)
        if split is not None:
            todo.append((i, *split))
    if judge is not None:
        verdicts: list[Any] = [_Judged(judge(problems[i], first)) for i, first, _ in todo]
    else:
        verdicts = grader.grade([first for _, first, _ in todo], [golds[i] for i, _, _ in todo]) if todo else []
    out: list[tuple[Any, float] | None] = [None] * len(texts)
    for (i, _, rest), verdict in zip(todo, verdicts, strict=True):
        out[i] = (verdict, len(rest) / max(1, len(texts[i])))
    return out


def _row(bench: Benchmark, prompt: str, i: int, k: int, g: Generation, v: Any, q: Any,
         first: tuple[Any, float] | None) -> dict[str, Any]:
    p = bench.problems[i]
    return {
        "benchmark": bench.name, "id": p.id, "sample": k, "prompt": prompt, "text": g.text, "gold": p.gold,
        "extracted": v.extracted, "correct": v.correct, "timed_out": v.timed_out, "error": v.error,
        "new_tokens": g.new_tokens, "truncated": g.truncated, "prompt_truncated": g.prompt_truncated,
        "qwen_extracted": q.extracted if q is not None else None, "qwen_correct": q.correct if q is not None else None,
        "reflects": first is not None,
        "first_extracted": first[0].extracted if first else None,
        "first_correct": first[0].correct if first else None,
        "reflection_share": round(first[1], 4) if first else None,
    }


def _metrics(bench: Benchmark, rows: list[dict[str, Any]], graders: Graders, timeouts: int,
             max_new_tokens: int) -> dict[str, Any]:
    item = bench.item
    per_problem = _by_problem(rows)
    n_samples = max((len(v) for v in per_problem.values()), default=0)
    both = [r for r in rows if r["qwen_correct"] is not None]
    disagree = [r["id"] for r in both if r["qwen_correct"] != r["correct"]]
    out: dict[str, Any] = {
        "acc": percent([r["correct"] for r in rows]),
        "n": len(per_problem), "samples": len(rows), "total": bench.total, "role": bench.role,
        "timeouts": timeouts, "errors": sum(r["error"] is not None for r in rows),
        "empty": sum(r["extracted"] is None for r in rows),
        "truncated": sum(r["truncated"] for r in rows), "prompt_truncated": sum(r["prompt_truncated"] for r in rows),
        "acc_qwen_compat": percent([r["qwen_correct"] for r in both]) if both else None,
        "disagreements": len(disagree) if both else None, "disagreement_ids": disagree[:DISAGREEMENT_SAMPLE],
        "maj@k": None, "pass@k": None,
        "file_sha256": bench.file_sha256, "source": bench.source, "gold_kind": str(item.gold_kind),
        "version": str(item.version), "shots": int(item.shots), "max_new_tokens": max_new_tokens,
        "prompt_format": str(item.prompt_format), "prompt_sha": prompt_sha(item),
        "grader_mode": graders.primary.mode,
    }
    if n_samples > 1:
        answers = [[r["extracted"] for r in v] for v in per_problem.values()]
        correct = [[r["correct"] for r in v] for v in per_problem.values()]
        ks = ks_for(n_samples)
        out["maj@k"] = maj_at_k_table(answers, correct, ks, graders.primary.equal_answers)
        out["pass@k"] = pass_at_k_table(correct, ks)
    out["acc_by_depth"] = _acc_by(bench, rows, "depth")
    out.update(self_correction([
        ReflectionSample(reflects=r["reflects"], final_correct=r["correct"], first_correct=r["first_correct"],
                         new_tokens=r["new_tokens"], reflection_share=r["reflection_share"] or 0.0)
        for r in rows]))
    return out


def _acc_by(bench: Benchmark, rows: list[dict[str, Any]], key: str) -> dict[str, float] | None:
    """Accuracy (%) per value of a problem meta field (the relations world's chain depth); None when absent."""
    values = {p.id: p.meta.get(key) for p in bench.problems}
    if not any(v is not None for v in values.values()):
        return None
    groups: dict[str, list[bool]] = {}
    for r in rows:
        groups.setdefault(str(values.get(r["id"])), []).append(bool(r["correct"]))
    return {k: percent(v) for k, v in sorted(groups.items())}


def _by_problem(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["id"], []).append(r)
    return out


# ------------------------------------------------------------------------------------------------- error analysis
def teacher_serves(teacher_cfg: Any, item: Any) -> bool:
    """Whether the configured teacher can label this benchmark's errors (its dataset is in teacher.datasets)."""
    served = {str(d) for d in teacher_cfg.datasets}
    return str(item.gold_kind) in served or str(item.name) in served


def error_analysis(teacher: Any, bench: Benchmark, rows: Sequence[dict[str, Any]]) -> tuple[Counter[str], list[dict]]:
    """Teacher error types of the wrong first samples (paper Figs. 6/8): counts and one label per wrong response.

    Counts are keyed by ErrorType value; responses the teacher calls correct or cannot label are counted under
    `verdict:<v>` and `failed:<reason>` so that nothing silently disappears.
    """
    from lemma.teacher.base import ClassifyRequest

    problems = {p.id: p for p in bench.problems}
    wrong = [r for r in rows if r["sample"] == 0 and not r["correct"]]
    outcomes = teacher.classify([ClassifyRequest(problems[r["id"]], r["text"]) for r in wrong]) if wrong else []
    counts: Counter[str] = Counter()
    labels = []
    for r, o in zip(wrong, outcomes, strict=True):
        if not o.ok or o.value is None:
            key, step = f"failed:{o.failure or 'no_label'}", None
        elif o.value.verdict != "incorrect" or o.value.error_type is None:
            key, step = f"verdict:{o.value.verdict}", None
        else:
            key, step = o.value.error_type.value, o.value.error_step
        counts[key] += 1
        labels.append({"benchmark": bench.name, "id": r["id"], "label": key, "error_step": step})
    return counts, labels
