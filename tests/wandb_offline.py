"""Read an offline W&B run folder back without the W&B server, for tests of `logger=wandb` (lemma.tracking).

Test code only: the product writes runs and never reads them back.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any


def read_offline_run(run_dir: Path) -> dict[str, Any]:
    """Config, logged keys, summary and table files of an offline W&B run folder, read without the server.

    The `.wandb` file is a LevelDB-style log of protobuf records (32 KiB blocks; chunk header = crc32, length, type).
    """
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = list(run_dir.glob("run-*.wandb"))
    config: dict[str, Any] = {}
    history_keys: set[str] = set()
    summary: dict[str, Any] = {}
    for blob in _log_records(path.read_bytes()):
        record = pb.Record()
        record.ParseFromString(blob)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            config.update({u.key: json.loads(u.value_json) for u in record.run.config.update})
        elif kind == "config":
            config.update({u.key: json.loads(u.value_json) for u in record.config.update})
        elif kind == "history":
            history_keys.update(i.key or "/".join(i.nested_key) for i in record.history.item)
        elif kind == "summary":
            summary.update({u.key or "/".join(u.nested_key): json.loads(u.value_json) for u in record.summary.update})
    tables = sorted(str(p.relative_to(run_dir)) for p in run_dir.glob("files/media/table/*.table.json"))
    return {"config": config, "history_keys": history_keys, "summary": summary, "tables": tables}


def _log_records(data: bytes, block: int = 32768) -> list[bytes]:
    records, pending, pos = [], b"", 7  # 7-byte ":W&B" file header
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0 and length == 0:
            break
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 1:
            records.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            records.append(pending + chunk)
    return records
