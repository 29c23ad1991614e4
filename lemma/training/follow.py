"""Training curves while training runs: the driver follows the worker's `train_log.jsonl` and hands on new rows.

Rank 0 of the worker appends one JSON line per logged step (every `train.log_every` steps) and then prints its log
line; the driver reads the worker's output line by line (lemma.training.launch.wait), so after each line it polls
the file and passes rows it has not seen to a callback (the tracker: W&B gets the curve as it grows, not after a
12-hour run ends). Only complete lines are read; a file that shrinks (the worker trims it on resume, or starts it
again) is read from the top, and rows at or below the last delivered step are skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class TrainLogFollower:
    def __init__(self, path: Path, on_row: Callable[[dict[str, Any]], None]) -> None:
        self.path = Path(path)
        self.on_row = on_row
        self.offset = 0
        self.last_step = 0

    def poll(self) -> int:
        """Deliver the complete rows appended since the last poll; returns how many were delivered."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0
        if size < self.offset:
            self.offset = 0
        if size == self.offset:
            return 0
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read(size - self.offset)
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        delivered = 0
        for line in complete.decode("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if int(row.get("step", 0)) <= self.last_step:
                continue
            self.last_step = int(row["step"])
            try:
                self.on_row(row)
            except Exception as exc:  # a tracker hiccup must not kill a 12-hour training run
                log.warning("could not log training step %s live: %s", row.get("step"), exc)
            delivered += 1
        return delivered
