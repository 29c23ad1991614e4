"""Every teacher job's reply is validated field by field; malformed replies are re-asked, then reported (never guessed)."""

from __future__ import annotations

import json

import pytest

from lemma.strategies import Strategy
from lemma.prompts import prompt_path
from lemma.records import Problem
from lemma.taxonomy import DEFINITIONS, ErrorType
from lemma.teacher import jobs, parsing
from lemma.teacher.base import ClassifyRequest, InjectRequest, LocateRequest, ReviseRequest, SmoothRequest
from lemma.teacher.cache import Reply
from tests.fakes.scripted_backend import make_teacher

GSM = Problem("g1", "gsm8k", "Ann has 3 bags of 4 apples. How many apples?", "3 x 4 = 12 apples.\nThe answer is: 12", "12")
MATH = Problem("m1", "math", "Compute $\\frac{1}{2} + \\frac{1}{2}$.", "It is $1$. The answer is: 1", "1")
SOLUTION = "Ann has 3 bags.\nShe has 3 x 4 = 13 apples.\nThe answer is: 13"  # 3 steps


# ------------------------------------------------------------------------------------------------ prompts
@pytest.mark.parametrize("job", ["classify", "locate", "inject", "fix", "fresh", "smooth"])
def test_every_default_prompt_is_one_format_template(job):
    """The whole file, sections included, formats with str.format (as lemma.teacher.jobs fills it)."""
    fields = {k: "X" for k in ("question", "reference", "steps", "num_steps", "error_label", "definition", "examples",
                               "prefix", "correct_solution", "text")}
    paths = [prompt_path(job)] + ([prompt_path(job, variant="model_aware")] if job == "fresh" else [])
    for path in paths:
        assert path.read_text().format(**fields).startswith("# ")


def test_prompts_render_for_both_datasets_and_all_injectable_types():
    for problem in (GSM, MATH):
        for t in jobs.injectable_types("default"):
            body = jobs.inject_prompt("default", problem, t, 0).messages[0]["content"]
            assert t.value in body and problem.question in body and "<error_step>" in body
        for job, sol in (("fix", None), ("fresh", None), ("fresh", "A correct one.")):
            body = jobs.revise_prompt(job, "default", problem, "PREFIX", sol).messages[0]["content"]
            assert body.rstrip().endswith("PREFIX") and ("A correct one." in body) == bool(sol)
    assert jobs.injectable_types("default") == {ErrorType.CA, ErrorType.CO, ErrorType.MS, ErrorType.QM, ErrorType.FC,
                                                ErrorType.CC}


def test_classify_prompt_lists_all_twelve_labels_and_numbers_steps():
    body = jobs.classify_prompt("default", GSM, SOLUTION).messages[0]["content"]
    assert all(f"- {t.value}:" in body for t in DEFINITIONS)
    assert "step 2: She has 3 x 4 = 13 apples." in body and "step 3: The answer is: 13" in body


# ------------------------------------------------------------------------------------------------ parsers
@pytest.mark.parametrize("raw, expected", [
    ('Step 2 is off.\n{"verdict": "incorrect", "first_wrong_step": 2, "error_type": "calculation_error"}',
     ("incorrect", ErrorType.CA, 2)),
    ('```json\n{"verdict": "incorrect", "first_wrong_step": "step 2", "error_type": "CA"}\n```',
     ("incorrect", ErrorType.CA, 2)),
    ('{"verdict": "incorrect", "first_wrong_step": 9, "error_type": "question_understanding_error"}',
     ("incorrect", ErrorType.QM, None)),  # alias; out-of-range step dropped (locate is authoritative)
    ('{"verdict": "correct"}', ("correct", None, None)),
    ("The solution is incorrect ... the wrong type is `missing_step`.", ("incorrect", ErrorType.MS, None)),
])
def test_parse_label_accepts(raw, expected):
    out = jobs.parse_label(raw, 3)
    assert out.ok and (out.value.verdict, out.value.error_type, out.value.error_step) == expected


@pytest.mark.parametrize("raw, reason", [
    ("I think it is wrong somewhere.", "parse_failure"),
    ('{"verdict": "maybe"}', "invalid_verdict"),
    ('{"verdict": "incorrect", "error_type": "typo_error"}', "invalid_error_type"),
    ('{"verdict": "incorrect", "first_wrong_step": 2', "parse_failure"),  # cut off
])
def test_parse_label_rejects(raw, reason):
    assert jobs.parse_label(raw, 3).failure == reason


@pytest.mark.parametrize("raw, step, reason", [
    ('Because.\n{"verdict": "incorrect", "first_wrong_step": 2}', 2, None),
    ('{"verdict": "incorrect", "first_wrong_step": 0}', None, "invalid_step"),
    ('{"verdict": "incorrect", "first_wrong_step": 4}', None, "invalid_step"),
    ('{"verdict": "incorrect", "first_wrong_step": "two"}', None, "invalid_step"),
    ('{"verdict": "incorrect", "first_wrong_step": true}', None, "invalid_step"),
    ("So the first wrong step is step 3.", 3, None),
    ("no idea", None, "parse_failure"),
])
def test_parse_location(raw, step, reason):
    out = jobs.parse_location(raw, 3)
    assert out.failure == reason and (out.value.step if out.ok else None) == step


def test_parse_location_correct_verdict():
    out = jobs.parse_location('{"verdict": "correct"}', 3)
    assert out.ok and out.value.verdict == "correct" and out.value.step is None


def _inj(solution: str, step: str = "2") -> str:
    return f"<solution>\n{solution}\n</solution>\n<error_step>{step}</error_step>\n<explanation>Off by one.</explanation>"


def test_parse_injection_valid_with_step_cross_check():
    out = jobs.parse_injection(_inj(SOLUTION), GSM)
    assert out.ok and out.value.text == SOLUTION and out.value.intended_step == 2 and out.value.explanation == "Off by one."
    assert jobs.parse_injection(_inj(SOLUTION, "7"), GSM).value.intended_step is None  # not a real step: claim dropped
    assert jobs.parse_injection(_inj(SOLUTION, "n/a"), GSM).value.intended_step is None


@pytest.mark.parametrize("raw, reason", [
    ("Here is a flawed solution: 3 x 4 = 13.", "parse_failure"),
    ("<solution>\n3 x 4 = 13\n", "parse_failure"),  # cut off before </solution>
    (_inj("She has 3 x 4 = 13 apples."), "no_answer_line"),
    (_inj("She has 3 x 4 = 13 apples, a deliberate mistake.\nThe answer is: 13"), "error_named"),
])
def test_parse_injection_rejects(raw, reason):
    assert jobs.parse_injection(raw, GSM).failure == reason


def test_injection_may_use_words_the_question_uses():
    problem = Problem("g2", "gsm8k", "Tim got 4 answers wrong out of 10. How many right?",
                      "10 - 4 = 6.\nThe answer is: 6", "6")
    assert jobs.parse_injection(_inj("He got 4 wrong, so 10 - 4 = 7 right.\nThe answer is: 7", "1"), problem).ok


PREFIX = "Ann has 3 bags.\nShe has 3 x 4 = 13 apples."


def test_parse_revision_strips_the_copied_prefix_modulo_whitespace():
    raw = ("<revision>\nAnn has 3 bags.   She has 3 x 4 = 13\napples.\nWait, let me check that. 3 x 4 = 12.\n"
           "The answer is: 12\n</revision>")
    out = jobs.parse_revision(raw, PREFIX)
    assert out.ok and out.value.continuation.startswith("Wait, let me check that.")
    assert out.value.reflection == "Wait, let me check that."


@pytest.mark.parametrize("raw, reason", [
    ("<revision>\nAnn has 3 bags.\nShe has 3 x 4 = 12 apples.\nThe answer is: 12\n</revision>", "prefix_altered"),
    (f"<revision>\n{PREFIX}\n</revision>", "empty_continuation"),
    (f"<revision>\n{PREFIX}\nWait, 3 x 4 = 12.\n</revision>", "no_answer_line"),
    (f"<revision>\n{PREFIX}\nWait, the reference solution says 12.\nThe answer is: 12\n</revision>", "leak"),
    (f"<revision>\n{PREFIX}\nWait, 3 x 4 = 12.", "parse_failure"),  # opened, never closed: cut off
])
def test_parse_revision_rejects(raw, reason):
    assert jobs.parse_revision(raw, PREFIX).failure == reason


def test_parse_revision_accepts_an_untagged_reply_that_copies_the_prefix():
    assert jobs.parse_revision(f"{PREFIX}\nHmm, 3 x 4 = 12.\nThe answer is: 12", PREFIX).ok


ORIGINAL = f"{PREFIX}\nWait, let me check that. 3 x 4 = 12.\nThe answer is: 12"


@pytest.mark.parametrize("raw, reason", [
    (f"<rewrite>\nLet's tackle this step by step.\n{ORIGINAL}\n</rewrite>", None),
    (f"Let's tackle this.\n{ORIGINAL}", "parse_failure"),
    (f"<rewrite>\n**Step 1** {ORIGINAL}\n</rewrite>", "markdown"),
    ("<rewrite>\nThe answer is: 12\n</rewrite>", "shortened"),
    (f"<rewrite>\nHere is the rewritten text. {ORIGINAL}\n</rewrite>", "mentions_rewrite"),
    (f"<rewrite>\n{PREFIX} Wait, 3 x 4 is 12 apples after all, so she has twelve.\n</rewrite>", "no_answer_line"),
])
def test_parse_smoothed(raw, reason):
    out = jobs.parse_smoothed(raw, ORIGINAL)
    assert out.failure == reason
    if reason is None:
        assert out.value.startswith("Let's tackle") and out.value.endswith("The answer is: 12")


def test_last_json_object_ignores_nested_and_prose():
    assert parsing.last_json_object('x {"a": {"b": 1}} y {"c": 2} z') == {"c": 2}
    assert parsing.last_json_object('{"a": {"b": 1}}') == {"a": {"b": 1}}
    assert parsing.last_json_object("no json {here") is None


# ------------------------------------------------------------------------------------- re-asks, end to end
def _label_script(bad_first: int):
    """Malformed for the first `bad_first` attempts of each prompt, then valid."""

    def script(messages, sampling):
        attempt = sampling.seed % 1000
        if attempt < bad_first:
            return "Sorry, I cannot follow the format."
        return json.dumps({"verdict": "incorrect", "first_wrong_step": 2, "error_type": "calculation_error"})

    return script


def test_reask_fixes_a_malformed_reply_and_is_a_new_cache_entry(tmp_path):
    teacher = make_teacher(tmp_path, _label_script(bad_first=1), max_reasks=2)
    out = teacher.classify([ClassifyRequest(GSM, SOLUTION)])
    assert out[0].ok and out[0].value.error_type == ErrorType.CA
    assert teacher.usage.parse_failures == 1 and teacher.usage.reasks == 1 and teacher.usage.requests == 2
    assert [s.seed for _, s in teacher.engine.backend.calls] == [0, 1]
    assert len(teacher.engine.cache) == 2  # attempt 0 and attempt 1 are stored separately
    again = make_teacher(tmp_path, _label_script(bad_first=99), max_reasks=2)  # a rerun replays both from cache
    assert again.classify([ClassifyRequest(GSM, SOLUTION)])[0].ok and again.engine.backend.calls == []


def test_reasks_run_out_and_the_item_fails_with_its_reason(tmp_path):
    teacher = make_teacher(tmp_path, _label_script(bad_first=99), max_reasks=2)
    out = teacher.classify([ClassifyRequest(GSM, SOLUTION), ClassifyRequest(GSM, SOLUTION + " ")])
    assert [o.failure for o in out] == ["parse_failure", "parse_failure"]
    assert out[0].raw == "Sorry, I cannot follow the format."
    assert teacher.usage.reasks == 4 and teacher.usage.parse_failures == 6 and teacher.usage.failures == 2
    assert teacher.usage.failure_reasons == {"parse_failure": 2}


def test_truncated_reply_is_reasked(tmp_path):
    def script(messages, sampling):
        if sampling.seed % 1000 == 0:
            return Reply('{"verdict": "incorrect", "first_wr', "length", 10, 1000)
        return Reply('{"verdict": "incorrect", "first_wrong_step": 1}', "stop", 10, 10)

    teacher = make_teacher(tmp_path, script)
    out = teacher.locate([LocateRequest(GSM, SOLUTION)])
    assert out[0].ok and out[0].value.step == 1 and teacher.usage.reasks == 1


def test_all_jobs_through_a_local_backend(tmp_path):
    """The same jobs through a non-remote (vLLM/hf-style) backend: chunked generate, cached before use."""
    replies = {
        "# Error injection": _inj(SOLUTION),
        "# Fix and continue": f"<revision>\n{PREFIX}\nWait, 3 x 4 = 12.\nThe answer is: 12\n</revision>",
        "# Fresh restart": f"<revision>\n{PREFIX}\nHmm, let me count: 4 + 4 + 4 = 12.\nThe answer is: 12\n</revision>",
        "# Smoothing": f"<rewrite>\nLet's tackle this step by step.\n{ORIGINAL}\n</rewrite>",
    }

    def script(messages, sampling):
        return replies[messages[0]["content"].split("\n", 1)[0]]

    teacher = make_teacher(tmp_path, script, remote=False)
    inj = teacher.inject([InjectRequest(GSM, ErrorType.CA, d) for d in range(10)])
    assert all(o.ok for o in inj) and teacher.usage.requests == 10  # 10 draws = 10 distinct requests
    assert teacher.revise(Strategy.fix, [ReviseRequest(GSM, PREFIX)])[0].value.continuation.startswith("Wait")
    assert teacher.revise(Strategy.fresh, [ReviseRequest(GSM, PREFIX, correct_solution="x")])[0].ok
    assert teacher.smooth([SmoothRequest(GSM, ORIGINAL)])[0].ok
    assert len(teacher.engine.cache) == 13
