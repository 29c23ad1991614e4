"""Teachers: the symbolic one for the built-in worlds, and LLM backends behind the same interface.

`make_teacher` is the one table from `teacher.backend` to an implementation. It lives here, above the protocol
(lemma.teacher.base) and the implementations, which import only the protocol: that keeps the package free of import
cycles. Implementations are imported when chosen, so a symbolic run never imports the LLM stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lemma.teacher.base import Teacher

__all__ = ["TEACHERS", "Teacher", "make_teacher"]


def _symbolic(cfg: Any, cache_dir: str, engines: Any) -> Teacher:
    from lemma.teacher.symbolic import SymbolicTeacher

    # the seed is in the teacher's key, unlike the run seed; the world is the data's (arith or relations)
    return SymbolicTeacher(seed=cfg.teacher.seed or 0, world=str(cfg.data.name))


def _llm(cfg: Any, cache_dir: str, engines: Any) -> Teacher:
    from lemma.teacher.llm import LLMTeacher  # its request backend comes from lemma.teacher.backends

    return LLMTeacher.from_config(cfg, cache_dir, engines)


TEACHERS: dict[str, Callable[[Any, str, Any], Teacher]] = {"symbolic": _symbolic, "openai": _llm, "vllm": _llm,
                                                       "hf": _llm}


def make_teacher(cfg: Any, cache_dir: str, engines: Any = None) -> Teacher:
    """Build the teacher that `teacher.backend` names; a local model goes into `engines` (the run's lemma.engines
    registry, so Services releases it between stages), else into a registry of the teacher's own."""
    backend = str(cfg.teacher.backend)
    if backend not in TEACHERS:
        raise ValueError(f"teacher.backend={backend!r}: use one of {', '.join(TEACHERS)}")
    return TEACHERS[backend](cfg, cache_dir, engines)
