"""The one base class of failures lemma understands, and how `run.py` reports them.

A *known* failure is one that lemma raises itself for a reason it can explain: an invalid config, a missing or
changed file, a teacher that had to stop (budget, broken endpoint, unparseable replies), a model that cannot be
reached, a job that cannot fit in memory, a signal from the scheduler. Each subclasses `LemmaError`, and its message
already says what went wrong and how to fix it. `run.py` prints such a failure as one paragraph, adds where it
happened and that finished work is kept, and exits non-zero without a Python traceback: the traceback would only
bury the message. Anything else (a bug) still propagates with its traceback, because there the traceback *is* the
useful part.
"""

from __future__ import annotations

from pathlib import Path


class LemmaError(Exception):
    """A failure lemma understands; its message names the key, file or process and the fix.

    `exit_code` is what `run.py` exits with; `node` is filled in by the pipeline with the stage node that was
    running (e.g. "train.sft"), so the report can say where it happened.
    """

    exit_code: int = 1
    node: str | None = None
    before_any_work: bool = False  # raised by the pre-flight: nothing was started, nothing written
    next_step: str = "rerun the same command once the cause is fixed"

    @property
    def headline(self) -> str:
        """What happened, in a few words: the start of the report."""
        return "did not start" if self.before_any_work else "stopped"


def kept_work_note(artifacts: str | Path, node: str | None, next_step: str = LemmaError.next_step) -> str:
    """The sentence every failure report ends with: what survives and how to continue."""
    where = f" while it ran {node}" if node else ""
    return (f"The run stopped{where}. Finished work is kept: every committed artifact under {artifacts} is reused, "
            "and a stage that checkpoints (training, evaluation, teacher calls) resumes from its last complete "
            f"checkpoint or cached reply, so {next_step}.")


def report(exc: LemmaError, artifacts: str | Path) -> str:
    """One paragraph for a known failure: what and how to fix (the message), where, and that finished work is kept."""
    where = f" in {exc.node}" if exc.node else ""
    tail = ("Nothing was started and no artifact was written; fix the above and rerun the same command."
            if exc.before_any_work else kept_work_note(artifacts, exc.node, exc.next_step))
    return f"lemma {exc.headline}{where}: {exc}\n{tail}"
