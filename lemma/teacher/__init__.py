"""Teachers: the symbolic one for the arith world, and LLM backends behind the same interface."""

from __future__ import annotations

from lemma.teacher.base import Teacher, make_teacher

__all__ = ["Teacher", "make_teacher"]
