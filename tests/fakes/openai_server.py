"""A fake OpenAI chat-completions server on 127.0.0.1 for tests and benchmarks. Test scaffolding, never a backend.

It speaks enough of the protocol for the `openai` SDK (POST /v1/chat/completions, JSON in and out, HTTP/1.1
keep-alive), answers each teacher job by rule (tests/fakes/gsm8k_rules.py), and injects faults at given rates:
429 with Retry-After, 500, stalled replies (held past the client's timeout) and dropped connections. Faults are
seeded per (prompt, arrival number), so a rerun meets the same faults whatever the request order. It counts
requests and answers per prompt hash, so tests can prove that a resumed run re-sends nothing already answered.

For throughput measurements it can also behave like a real hosted endpoint: latency drawn from a log-normal
distribution (`latency_median_s`, `latency_sigma`) and a requests-per-minute limit (`rpm_limit`) enforced the way
OpenAI documents it, quantised to one second (600 RPM = at most 10 requests in any one-second bucket), answering
429 with Retry-After beyond it. GET /stats returns the counters and the times of the first and last accepted request.

    python -m tests.fakes.openai_server --latency 0.1     # from the repository root; prints "PORT <n>"
    python -m tests.fakes.openai_server --latency-median 2 --latency-sigma 0.5 --rpm 600
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.gsm8k_rules import job_of, reply_for


def prompt_hash(messages: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


@dataclass
class Faults:
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_stall: float = 0.0
    rate_drop: float = 0.0
    rate_malformed: float = 0.0  # first answer to a prompt is unusable (exercises re-asks)
    retry_after_s: float = 0.2
    stall_s: float = 5.0

    def pick(self, seed: int, key: str, arrival: int) -> str:
        digest = hashlib.sha256(f"{seed}:{key}:{arrival}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        for kind, rate in (("429", self.rate_429), ("500", self.rate_500), ("stall", self.rate_stall),
                           ("drop", self.rate_drop)):
            if u < rate:
                return kind
            u -= rate
        return "ok"


@dataclass
class Stats:
    requests: Counter[str] = field(default_factory=Counter)  # every arrival, by prompt hash
    answered: Counter[str] = field(default_factory=Counter)  # 200 replies, by prompt hash
    outcomes: Counter[str] = field(default_factory=Counter)  # ok / 429 / 500 / stall / drop / malformed
    jobs: Counter[str] = field(default_factory=Counter)
    authorization: set[str] = field(default_factory=set)  # Authorization headers seen (to check the key arrives)
    accepted_first: float | None = None  # monotonic times of the first and last request let through the RPM limit
    accepted_last: float | None = None


class RpmLimit:
    """Requests per minute, quantised to one-second buckets (OpenAI: "60,000 RPM may be enforced as 1,000/s")."""

    def __init__(self, rpm: float) -> None:
        self.per_second = rpm / 60.0
        self.bucket = -1
        self.used = 0.0

    def admit(self, now: float) -> float | None:
        """None when the request may pass, else the seconds until the next bucket (for Retry-After)."""
        bucket = int(now)
        if bucket != self.bucket:
            self.bucket, self.used = bucket, 0.0
        if self.used + 1 <= max(1.0, self.per_second):
            self.used += 1
            return None
        return bucket + 1 - now


class FakeOpenAIServer:
    def __init__(self, latency_s: float = 0.0, faults: Faults | None = None, seed: int = 0,
                 bank: dict[str, str] | None = None, port: int = 0, require_key: str | None = None,
                 latency_median_s: float | None = None, latency_sigma: float = 0.5,
                 rpm_limit: float | None = None) -> None:
        self.latency_s, self.faults, self.seed, self.bank = latency_s, faults or Faults(), seed, bank or {}
        self.latency_median_s, self.latency_sigma = latency_median_s, latency_sigma  # log-normal latency when set
        self.rpm = RpmLimit(rpm_limit) if rpm_limit else None
        self._rng = random.Random(seed)
        self.require_key = require_key  # answer 401 unless "Authorization: Bearer <require_key>"
        self.stats = Stats()
        self.port = port
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._closing: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")

    def stop(self) -> None:
        if self._loop is not None and self._closing is not None:
            self._loop.call_soon_threadsafe(self._closing.set)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._closing = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", self.port, backlog=512)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._closing.wait()
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:  # open keep-alive connections: end them before the loop closes
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -------------------------------------------------------------------------------------------- HTTP/1.1
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                headers, body = request
                if headers.get(":path") == "/stats":
                    _write(writer, 200, self.stats_json())
                    await writer.drain()
                    continue
                if not await self._respond(writer, headers, body):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, headers: dict[str, str], body: bytes) -> bool:
        """Answer one request; False when the connection must be dropped."""
        payload = json.loads(body or b"{}")
        messages = payload.get("messages", [])
        key = prompt_hash(messages)
        with self._lock:
            arrival = self.stats.requests[key]
            self.stats.requests[key] += 1
            self.stats.jobs[job_of(messages[-1]["content"]) if messages else "none"] += 1
            self.stats.authorization.add(headers.get("authorization", ""))
        if self.require_key is not None and headers.get("authorization") != f"Bearer {self.require_key}":
            self._count("401")
            _write(writer, 401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
            await writer.drain()
            return True
        if self.rpm is not None:
            with self._lock:
                now = time.monotonic()
                wait = self.rpm.admit(now)
                if wait is None:
                    self.stats.accepted_first = self.stats.accepted_first or now
                    self.stats.accepted_last = now
            if wait is not None:
                self._count("429")
                _write(writer, 429, {"error": {"message": "Rate limit reached for requests", "type": "requests"}},
                       {"Retry-After": str(max(1, math.ceil(wait))), "retry-after-ms": str(int(wait * 1000) + 1)})
                await writer.drain()
                return True
        kind = self.faults.pick(self.seed, f"{key}:{payload.get('seed')}", arrival)
        await self._wait(self._latency())
        if kind == "stall":
            self._count("stall")
            await self._wait(self.faults.stall_s)
            return False
        if kind == "drop":
            self._count("drop")
            return False
        if kind in ("429", "500"):
            self._count(kind)
            extra = {"Retry-After": str(max(1, round(self.faults.retry_after_s))),
                     "retry-after-ms": str(int(self.faults.retry_after_s * 1000))} if kind == "429" else {}
            _write(writer, int(kind), {"error": {"message": f"fake {kind}", "type": "fake"}}, extra)
            await writer.drain()
            return True
        text = self._content(messages, key, arrival)
        with self._lock:
            self.stats.answered[key] += 1
        _write(writer, 200, _completion(payload, text))
        await writer.drain()
        return True

    def _content(self, messages: list[dict[str, Any]], key: str, arrival: int) -> str:
        if arrival == 0 and _unit(self.seed, key) < self.faults.rate_malformed:
            self._count("malformed")
            return "Sure! I think this looks fine overall."
        self._count("ok")
        return reply_for(messages[-1]["content"], self.bank)

    def _latency(self) -> float:
        if self.latency_median_s is None:
            return self.latency_s
        with self._lock:
            return self._rng.lognormvariate(math.log(self.latency_median_s), self.latency_sigma)

    def stats_json(self) -> dict[str, Any]:
        with self._lock:
            first, last = self.stats.accepted_first, self.stats.accepted_last
            return {"outcomes": dict(self.stats.outcomes), "requests": sum(self.stats.requests.values()),
                    "accepted_span_s": (last - first) if first is not None and last is not None else None}

    def _count(self, kind: str) -> None:
        with self._lock:
            self.stats.outcomes[kind] += 1

    async def _wait(self, seconds: float) -> None:
        if seconds > 0 and self._closing is not None:
            try:
                await asyncio.wait_for(self._closing.wait(), seconds)
            except asyncio.TimeoutError:
                pass


def _unit(seed: int, key: str) -> float:
    return int.from_bytes(hashlib.sha256(f"m{seed}:{key}".encode()).digest()[:8], "big") / 2**64


async def _read_request(reader: asyncio.StreamReader) -> tuple[dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    headers[":path"] = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else ""
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return headers, body


def _write(writer: asyncio.StreamWriter, status: int, obj: dict[str, Any], extra: dict[str, str] | None = None) -> None:
    data = json.dumps(obj).encode()
    reason = {200: "OK", 401: "Unauthorized", 429: "Too Many Requests", 500: "Internal Server Error"}.get(status, "Error")
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json", f"Content-Length: {len(data)}",
            *(f"{k}: {v}" for k, v in (extra or {}).items())]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)


def _completion(payload: dict[str, Any], text: str) -> dict[str, Any]:
    prompt_chars = sum(len(m.get("content", "")) for m in payload.get("messages", []))
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": payload.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": len(text) // 4,
                      "total_tokens": prompt_chars // 4 + len(text) // 4}}


def _load_bank(folder: str | None, limit: int | None) -> dict[str, str]:
    if not folder:
        return {}
    from omegaconf import OmegaConf

    from lemma.data import load_train_problems

    data = OmegaConf.create({"datasets": ["gsm8k", "math"], "path": folder, "source": "local", "limit": limit,
                             "strip_calculator_annotations": True})
    return {p.question: p.reference for p in load_train_problems(data)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--latency-median", type=float, default=None, help="log-normal latency with this median (s)")
    parser.add_argument("--latency-sigma", type=float, default=0.5)
    parser.add_argument("--rpm", type=float, default=None, help="requests-per-minute limit (429 beyond it)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bank", help="folder with <dataset>/train.jsonl: lets Fresh & Restart answer by lookup")
    parser.add_argument("--bank-limit", type=int, default=None)
    args = parser.parse_args()
    server = FakeOpenAIServer(latency_s=args.latency, port=args.port, bank=_load_bank(args.bank, args.bank_limit),
                              latency_median_s=args.latency_median, latency_sigma=args.latency_sigma,
                              rpm_limit=args.rpm)
    server.start()
    print(f"PORT {server.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
