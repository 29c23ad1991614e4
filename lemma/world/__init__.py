"""Worlds: problem generators with known computations. `arith` is the built-in default (lemma.world.arith)."""

from __future__ import annotations

from lemma.world.arith import Computation, generate_split, make_world, world_texts

__all__ = ["Computation", "generate_split", "make_world", "world_texts"]
