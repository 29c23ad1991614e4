"""The six teacher jobs as prompt renderers and reply validators.

Each job turns one request into a chat prompt (one user message, no system prompt, as in the original client,
METHOD.md §2) and a validator that checks every field of the reply. A failed check returns the reason, which the
teacher either fixes by re-asking or reports as the item's failure; nothing is guessed. Checks the original lacked:
locate rejects steps outside 1..len(steps) (§3.3); injected solutions must end with an answer line and must not
name their own mistake, and the injector's step claim is kept only when it is a real step (§3.4 gap, option b);
revisions must copy the prefix verbatim (modulo whitespace) and must not leak the reference (§3.6-3.7); smoothing
must keep its answer line and length, without markdown (§3.8).

Prompt files may end with sections (`=== examples gsm8k ===`, `=== definition <type> ===`, ...): the part before the
first section is the template; sections are picked per dataset and error type. The whole file stays one
str.format template (literal braces doubled), so its bytes are what `lemma.prompts.prompt_files` hashes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from lemma.prompts import prompt_path
from lemma.records import Problem
from lemma.steps import numbered, split_steps
from lemma.taxonomy import ErrorType, parse_error_type
from lemma.teacher import parsing
from lemma.teacher.base import Injection, Label, Location, Outcome, Revision

_SECTION = re.compile(r"^=== (.+?) ===[ \t]*$", re.MULTILINE)
_NAMING_WORDS = ("mistake", "error", "wrong", "incorrect")
Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Prompt:
    """One request to send: its messages, its draw index and the validator for its reply."""
    messages: Messages
    validate: Callable[[str], Outcome]  # type: ignore[type-arg]
    draw: int = 0


@dataclass(frozen=True)
class Template:
    body: str
    sections: dict[tuple[str, ...], str]

    def section(self, *key: str) -> str:
        if key not in self.sections:
            raise KeyError(f"prompt has no section '=== {' '.join(key)} ==='")
        return self.sections[key]


@cache
def load_template(job: str, prompt_set: str, variant: str | None = None) -> Template:
    text = prompt_path(job, prompt_set, variant).read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    sections = {tuple(parts[i].split()): parts[i + 1].strip("\n").format() for i in range(1, len(parts) - 1, 2)}
    return Template(parts[0].rstrip() + "\n", sections)


def examples_dataset(dataset: str) -> str:
    """Few-shot examples exist for GSM8K-style word problems and MATH; arith problems read like GSM8K."""
    return "math" if dataset == "math" else "gsm8k"


def injectable_types(prompt_set: str) -> frozenset[ErrorType]:
    """Types the inject prompt can ask for: those with a definition and examples for both datasets."""
    sections = load_template("inject", prompt_set).sections
    return frozenset(t for t in ErrorType if ("definition", t.value) in sections
                     and all(("examples", ds, t.value) in sections for ds in ("gsm8k", "math")))


def _user(text: str) -> Messages:
    return [{"role": "user", "content": text}]


def _fail(reason: str, raw: str) -> Outcome:  # type: ignore[type-arg]
    return Outcome(failure=reason, raw=raw)


# ------------------------------------------------------------------------------------------------ classify, locate
def classify_prompt(prompt_set: str, problem: Problem, solution: str) -> Prompt:
    spans = split_steps(solution, problem.dataset)
    body = load_template("classify", prompt_set).body.format(
        question=problem.question, reference=problem.reference, steps=numbered(solution, spans))
    return Prompt(_user(body), lambda raw: parse_label(raw, len(spans)))


def parse_label(raw: str, n_steps: int) -> Outcome[Label]:
    obj = parsing.last_json_object(raw)
    if obj is None:
        m = re.search(r"wrong type is\s*[`'\"*]*([A-Za-z_ \-]+)", raw, flags=re.IGNORECASE)  # the original's sentence
        error_type = parse_error_type(m.group(1)) if m else None
        if error_type is None:
            return _fail("parse_failure", raw)
        return Outcome(Label("incorrect", error_type), raw=raw)
    verdict = str(obj.get("verdict", "")).strip().lower()
    if verdict == "correct":
        return Outcome(Label("correct"), raw=raw)
    if verdict != "incorrect":
        return _fail("invalid_verdict", raw)
    error_type = parse_error_type(str(obj.get("error_type", "")))
    if error_type is None:
        return _fail("invalid_error_type", raw)
    step = parsing.as_step(obj.get("first_wrong_step"))
    step = step if step is not None and 1 <= step <= n_steps else None  # locate is authoritative
    return Outcome(Label("incorrect", error_type, step), raw=raw)


def locate_prompt(prompt_set: str, problem: Problem, solution: str) -> Prompt:
    spans = split_steps(solution, problem.dataset)
    body = load_template("locate", prompt_set).body.format(
        question=problem.question, reference=problem.reference, steps=numbered(solution, spans), num_steps=len(spans))
    return Prompt(_user(body), lambda raw: parse_location(raw, len(spans)))


def parse_location(raw: str, n_steps: int) -> Outcome[Location]:
    obj = parsing.last_json_object(raw)
    if obj is None:
        m = re.search(r"first wrong step is step (\d+)", raw, flags=re.IGNORECASE)  # the original's sentence
        obj = {"verdict": "incorrect", "first_wrong_step": int(m.group(1))} if m else None
    if obj is None:
        return _fail("parse_failure", raw)
    verdict = str(obj.get("verdict", "")).strip().lower()
    if verdict == "correct":
        return Outcome(Location("correct"), raw=raw)
    if verdict != "incorrect":
        return _fail("invalid_verdict", raw)
    step = parsing.as_step(obj.get("first_wrong_step"))
    if step is None or not 1 <= step <= n_steps:
        return _fail("invalid_step", raw)
    return Outcome(Location("incorrect", step), raw=raw)


# ------------------------------------------------------------------------------------------------------- inject
def inject_prompt(prompt_set: str, problem: Problem, error_type: ErrorType, draw: int) -> Prompt:
    template = load_template("inject", prompt_set)
    body = template.body.format(
        error_label=error_type.value, definition=template.section("definition", error_type.value),
        examples=template.section("examples", examples_dataset(problem.dataset), error_type.value),
        question=problem.question, reference=problem.reference)
    return Prompt(_user(body), lambda raw: parse_injection(raw, problem), draw=draw)


def parse_injection(raw: str, problem: Problem) -> Outcome[Injection]:
    solution = parsing.tagged(raw, "solution")
    if not solution or not solution.strip():
        return _fail("parse_failure", raw)
    if not parsing.has_answer_line(solution):
        return _fail("no_answer_line", raw)
    question = problem.question.lower()
    named = [w for w in _NAMING_WORDS if w not in question and re.search(rf"\b{w}", solution, re.IGNORECASE)]
    if named:
        return _fail("error_named", raw)
    claim = parsing.as_step(parsing.tagged(raw, "error_step"))
    n_steps = len(split_steps(solution, problem.dataset))
    intended = claim if claim is not None and 1 <= claim <= n_steps else None
    return Outcome(Injection(solution, parsing.tagged(raw, "explanation") or "", intended), raw=raw)


# ------------------------------------------------------------------------------------------- revisions, smoothing
def revise_prompt(job: str, prompt_set: str, problem: Problem, prefix: str, correct_solution: str | None) -> Prompt:
    variant = "model_aware" if job == "fresh" and correct_solution is not None else None
    template = load_template(job, prompt_set, variant)
    body = template.body.format(
        question=problem.question, reference=problem.reference, prefix=prefix, correct_solution=correct_solution or "",
        examples=template.section("examples", examples_dataset(problem.dataset)))
    return Prompt(_user(body), lambda raw: parse_revision(raw, prefix))


def parse_revision(raw: str, prefix: str) -> Outcome[Revision]:
    body = parsing.tagged(raw, "revision")
    if body is None and "<revision>" not in raw.lower():
        body = raw.strip()  # an untagged reply is still usable if it copies the prefix
    if body is None:
        return _fail("parse_failure", raw)
    continuation = parsing.strip_prefix(body, prefix)
    if continuation is None:
        return _fail("prefix_altered", raw)
    continuation = continuation.strip()
    if not continuation:
        return _fail("empty_continuation", raw)
    if not parsing.has_answer_line(continuation):
        return _fail("no_answer_line", raw)
    if parsing.leaked_term(continuation):
        return _fail("leak", raw)
    return Outcome(Revision(continuation, parsing.first_sentence(continuation)), raw=raw)


def smooth_prompt(prompt_set: str, problem: Problem, text: str) -> Prompt:
    body = load_template("smooth", prompt_set).body.format(question=problem.question, text=text)
    return Prompt(_user(body), lambda raw: parse_smoothed(raw, text))


def parse_smoothed(raw: str, original: str) -> Outcome[str]:
    body = parsing.tagged(raw, "rewrite")
    if not body or not body.strip():
        return _fail("parse_failure", raw)
    if not parsing.has_answer_line(body):
        return _fail("no_answer_line", raw)
    if "**" in body or re.search(r"^\s*#", body, flags=re.MULTILINE):
        return _fail("markdown", raw)
    if len(body) < 0.5 * len(original):
        return _fail("shortened", raw)
    if re.search(r"\brewr[io]t", body, flags=re.IGNORECASE):
        return _fail("mentions_rewrite", raw)
    return Outcome(body.strip(), raw=raw)
