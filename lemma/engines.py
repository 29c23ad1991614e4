"""In-process model engines of one run, and how their GPU memory is given back before the next GPU stage.

vLLM reserves `gpu_memory_utilization` (90% by default) of every GPU it uses for as long as its engine lives, and a
transformers model holds its weights until the last reference goes. A run that samples with vLLM, then trains in a
child process, then evaluates with vLLM again only works if each engine is shut down before the next stage starts.
So engines are not module globals: the run's `Services` owns one `Engines` registry for every in-process model
(student and evaluated models through lemma.generation, and a local teacher's model, whose backend loads it through
lemma.generation too); `lemma.pipeline` asks it to release everything the next stage does not use, according to the
stage's declared `uses` ("student", "teacher", "trainer").

Releasing a vLLM engine follows vLLM's own shutdown tests (tests/v1/shutdown/test_delete.py: deleting the `LLM`
frees the GPU): stop the engine core explicitly where the version offers it (`LLM.shutdown()`, else
`llm.llm_engine.engine_core.shutdown()`), drop the object, tear down vLLM's distributed state
(`vllm.distributed.cleanup_dist_env_and_memory`), collect garbage and empty torch's CUDA cache.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
from collections.abc import Callable, Collection, Hashable
from typing import Any

log = logging.getLogger(__name__)


def release_cuda_memory() -> None:
    """Return cached CUDA blocks to the driver after the last reference to a model was dropped."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def shutdown_engine(engine: Any) -> None:
    """Stop one engine (vLLM `LLM`, a transformers wrapper, or anything with shutdown()/close()) and free memory."""
    stop = getattr(engine, "shutdown", None) or getattr(engine, "close", None)
    if callable(stop):
        with contextlib.suppress(Exception):
            stop()
    else:
        core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)  # vLLM V1 without LLM.shutdown
        if core is not None and callable(getattr(core, "shutdown", None)):
            with contextlib.suppress(Exception):
                core.shutdown()
    is_vllm = type(engine).__module__.startswith("vllm")
    del engine
    if is_vllm:
        with contextlib.suppress(Exception):
            from vllm.distributed import cleanup_dist_env_and_memory

            cleanup_dist_env_and_memory()
    release_cuda_memory()


class Engines:
    """Loaded generation engines, one model at a time, owned by the run's Services.

    `get` loads on first use and keeps the engine for later calls with the same key (evaluate: one model, many
    benchmarks); asking for another model first shuts the current one down, because two 8B vLLM engines at 90%
    memory each cannot coexist. Each engine remembers its users ("student" for generation, "teacher" for a local
    teacher, lemma.teacher.local): a teacher and the student that name the same model share one engine.
    `release(keep=uses)` shuts down what no user in `keep` needs; the pipeline calls it before a stage that needs the
    GPU for something else, and `release()` at the end of the run.
    """

    def __init__(self, shutdown: Callable[[Any], None] = shutdown_engine) -> None:
        self._live: dict[Hashable, Any] = {}
        self._users: dict[Hashable, set[str]] = {}
        self._shutdown = shutdown

    def get(self, key: Hashable, load: Callable[[], Any], user: str = "student") -> Any:
        if key not in self._live:
            self.release()
            self._live[key] = load()
        self._users.setdefault(key, set()).add(user)
        return self._live[key]

    def release(self, keep: Collection[str] = ()) -> list[str]:
        """Forget every user not in `keep` and shut down the engines left without one (all, by default); returns
        what was shut down, e.g. "student+teacher model Qwen/Qwen2.5-0.5B-Instruct"."""
        released = []
        for key in list(self._live):
            users = self._users[key] & set(keep)
            if users:
                self._users[key] = users
                continue
            engine = self._live.pop(key)
            released.append(_describe(key, self._users.pop(key)))
            log.info("shutting down engine %s", released[-1])
            self._shutdown(engine)
            del engine
        return released

    def drop(self, user: str) -> list[str]:
        """Forget `user`; shut down the engines only it used."""
        return self.release(keep=set().union(*self._users.values()) - {user})

    def holds(self, user: str) -> bool:
        """Whether an engine is loaded for `user`."""
        return any(user in users for users in self._users.values())

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._live


def _describe(key: Hashable, users: set[str]) -> str:
    model = key[1] if isinstance(key, tuple) and len(key) > 1 else key
    return f"{'+'.join(sorted(users))} model {model}"
