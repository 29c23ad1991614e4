"""The report states what the teacher has cost so far through its cache ledger, and what remains of the cap."""

from __future__ import annotations

from lemma.stages.report import budget_line, teacher_budget


def _manifest(node: str, spent: float, cap: float | None) -> dict:
    remaining = None if cap is None else cap - spent
    return {"teacher": {"model": "gpt-4o", "requests": 3,
                        "budget": {"spent_total_usd": spent, "max_cost_usd": cap, "remaining_usd": remaining,
                                   "scope": "cache"}}}


def test_the_last_teacher_stage_gives_spent_and_remaining():
    manifests = {"classify": _manifest("classify", 1.25, 50.0), "inject": _manifest("inject", 7.5, 50.0),
                 "build": {"stats": {}}}
    budget = teacher_budget(manifests)
    assert budget["after"] == "inject" and budget["spent_total_usd"] == 7.5
    line = budget_line(budget)
    assert "$7.50 of teacher.max_cost_usd=$50.00; $42.50 remaining" in line
    assert "all runs and sweep jobs" in line and "gpt-4o" in line


def test_without_a_cap_the_spend_is_still_shown_and_without_teacher_stages_nothing():
    assert "(no teacher.max_cost_usd cap)" in budget_line(teacher_budget({"smooth": _manifest("smooth", 2.0, None)}))
    assert teacher_budget({"build": {"stats": {}}}) is None
