"""Scripted teacher replies for the fake OpenAI server: recognise the job from the prompt and answer it by rule.

Test scaffolding only. It reads the prompts written by lemma/prompts/*/default.md (the "## Your task" part and its
"### ..." sections) and solves GSM8K-style tasks mechanically: inject changes one computed number of the reference
and carries it through later lines; locate/classify compare a solution's numbers with the reference; fix/fresh
return the attempt + "Wait, ..." + a correct solution ending in the gold answer; smooth prepends an opening line.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

from lemma.steps import split_steps

JOB_TITLES = {"# Error classification": "classify", "# First wrong step": "locate", "# Error injection": "inject",
              "# Fix and continue": "fix", "# Fresh restart": "fresh", "# Smoothing": "smooth"}
_NUM = r"\d+(?:\.\d+)?"
_CALC = re.compile(rf"((?:{_NUM}|[ ()+\-*/x×])*{_NUM}[ )]*)=\s*\$?({_NUM})")


def job_of(prompt: str) -> str:
    first = prompt.lstrip().split("\n", 1)[0].strip()
    return JOB_TITLES.get(first, "unknown")


def task_sections(prompt: str) -> dict[str, str]:
    """The '### Title' sections after '## Your task', keyed by title (without any parenthesised suffix)."""
    task = prompt.split("## Your task", 1)[-1]
    out: dict[str, str] = {}
    for block in re.split(r"^### ", task, flags=re.MULTILINE)[1:]:
        title, _, body = block.partition("\n")
        out[re.sub(r"\s*\(.*\)$", "", title.strip())] = body.strip("\n")
    return out


def gold_of(reference: str) -> str:
    m = re.findall(r"The answer is:?\s*(\S+)", reference)
    return m[-1].rstrip(".") if m else ""


def question_of(sections: dict[str, str]) -> str:
    return sections.get("Problem", "").split("\n(The final answer")[0].strip()


def reply_for(prompt: str, bank: dict[str, str] | None = None) -> str:
    job = job_of(prompt)
    s = task_sections(prompt)
    if job in ("classify", "locate"):
        return judge(job, s)
    if job == "inject":
        return inject(s["Correct solution"])
    if job in ("fix", "fresh"):
        return revise(job, s, bank or {})
    if job == "smooth":
        return f"<rewrite>\nLet's tackle this step by step.\n{s['Solution to rewrite']}\n</rewrite>"
    return "I do not know this task."


# ----------------------------------------------------------------------------------------------- judge
def _steps(numbered_steps: str) -> list[str]:
    return [re.sub(r"^step \d+:\s*", "", line) for line in numbered_steps.splitlines() if line.startswith("step ")]


def _numbers(text: str) -> set[Fraction]:
    return {Fraction(n) for n in re.findall(_NUM, text)}


def judge(job: str, s: dict[str, str]) -> str:
    steps = _steps(s["Student solution, step by step"])
    reference = s["Reference solution"]
    if gold_of("\n".join(steps)) == gold_of(reference):
        return 'The solution reaches the right answer.\n{"verdict": "correct"}'
    known = _numbers(reference) | _numbers(s.get("Problem", ""))
    wrong = next((i for i, st in enumerate(steps, 1) if _numbers(st) - known), len(steps))
    verdict = {"verdict": "incorrect", "first_wrong_step": wrong}
    if job == "classify":
        verdict["error_type"] = "calculation_error" if _miscalculated(steps[wrong - 1]) else "question_misinterpretation"
    return f"Step {wrong} introduces a value that does not follow.\n{json.dumps(verdict)}"


def _miscalculated(step: str) -> bool:
    for expr, result in _CALC.findall(step):
        value = _eval(expr)
        if value is not None and value != Fraction(result):
            return True
    return False


def _eval(expr: str) -> Fraction | None:
    clean = expr.replace("x", "*").replace("×", "*").strip()
    if not re.fullmatch(r"[\d.\s()+\-*/]+", clean) or not re.search(r"[+\-*/]", clean):
        return None
    try:
        value = eval(re.sub(rf"({_NUM})", r"Fraction('\1')", clean), {"Fraction": Fraction})  # noqa: S307 (test rule)
    except (SyntaxError, ZeroDivisionError, TypeError):
        return None
    return value if isinstance(value, Fraction) else None


# ----------------------------------------------------------------------------------------------- inject
def _fmt(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def inject(reference: str) -> str:
    """Change the first computed result by +1 and carry it through later calculations and the final answer."""
    lines = reference.splitlines()
    gold = gold_of(reference)
    mapping: dict[str, str] = {}
    changed_line = None
    for i, line in enumerate(lines):
        if line.startswith("The answer is"):
            continue
        if changed_line is None:
            m = _CALC.search(line)
            if m:
                new = _fmt(Fraction(m.group(2)) + 1)
                mapping[m.group(2)] = new
                lines[i] = line[: m.start(2)] + new + line[m.end(2):]
                changed_line = i
            continue
        lines[i] = _carry(line, mapping)
    final = mapping.get(gold) or _fmt(Fraction(gold) + 1 if re.fullmatch(_NUM, gold) else Fraction(1))
    lines = [ln for ln in lines if not ln.startswith("The answer is")] + [f"The answer is: {final}"]
    text = "\n".join(lines)
    step = _step_of_line(text, changed_line or 0)
    return (f"<solution>\n{text}\n</solution>\n<error_step>{step}</error_step>\n"
            "<explanation>A computed value is off by one and carried forward.</explanation>")


def _carry(line: str, mapping: dict[str, str]) -> str:
    m = _CALC.search(line)
    if not m:
        return re.sub(rf"(?<![\d.]){_NUM}(?![\d.])", lambda n: mapping.get(n.group(0), n.group(0)), line)
    expr = re.sub(rf"(?<![\d.]){_NUM}(?![\d.])", lambda n: mapping.get(n.group(0), n.group(0)), m.group(1))
    value = _eval(expr)
    result = m.group(2) if value is None else _fmt(value)
    if result != m.group(2):
        mapping[m.group(2)] = result
    return line[: m.start(1)] + expr + "= " + result + line[m.end(2):]


def _step_of_line(text: str, line_index: int) -> int:
    offset = sum(len(ln) + 1 for ln in text.splitlines()[:line_index])
    spans = split_steps(text, "gsm8k")
    return next((i for i, sp in enumerate(spans, 1) if sp.end > offset), 1)


# ----------------------------------------------------------------------------------------------- revise
def revise(job: str, s: dict[str, str], bank: dict[str, str]) -> str:
    prefix = s["The attempt so far"]
    solution = s.get("Reference solution") or s.get("A correct solution") or bank.get(question_of(s))
    if solution is None:
        return "<revision>\nI cannot solve this one.\n</revision>"
    phrase = ("Wait, let me check that last step again; the value there does not follow."
              if job == "fix" else "Hmm, let me step back and solve this in a different way.")
    return f"<revision>\n{prefix}\n{phrase}\n{solution}\n</revision>"
