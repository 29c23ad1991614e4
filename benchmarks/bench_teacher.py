"""Teacher-client throughput: our async client (64 in flight) versus the original's scheme (8 sequential workers).

The original ran 8 processes, each sending one blocking request at a time (METHOD.md §10, defect 10). Against an
endpoint with fixed latency L that caps throughput at 8/L requests per second whatever the server could take. This
script starts the fake OpenAI server (tests/fakes/openai_server.py) in its own process with 100 ms latency, sends the
same N locate prompts both ways, and prints both throughputs and their ratio (the ideal is 64/8 = 8x). A third pass
repeats our run on the warm cache (no requests at all).

A second part measures what matters against a hosted API: the fake server answers with log-normal latency (median
2 s) and enforces a requests-per-minute limit quantised to one second, as OpenAI documents it, with 429 and
Retry-After beyond it. The client runs as configured for that tier (`teacher.rpm` = the limit). Reported: the share
of the limit reached (end to end, and while requests flowed), the 429s it provoked, and the client's CPU time per
request (the server runs in its own process, so its CPU is not counted).

    python benchmarks/bench_teacher.py [--n 640] [--latency 0.1] [--concurrency 64] [--workers 8]
    python benchmarks/bench_teacher.py --only realistic [--rpm 600] [--realistic-n 1200] [--median-latency 2]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from omegaconf import OmegaConf

from lemma.config import REPO_ROOT, DataConfig, LemmaConfig
from lemma.data import load_train_problems
from lemma.teacher import jobs
from lemma.teacher.base import LocateRequest
from lemma.teacher.llm import LLMTeacher

KEY_ENV = "LEMMA_BENCH_KEY"


def start_server(latency: float, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--latency", str(latency), *extra],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def locate_requests(n: int) -> list[LocateRequest]:
    data = OmegaConf.merge(OmegaConf.structured(DataConfig), {"kind": "files", "datasets": ["gsm8k"],
                                                              "path": str(REPO_ROOT / "data" / "train"), "limit": n})
    return [LocateRequest(p, p.reference) for p in load_train_problems(data)]


def ours(base_url: str, requests: list[LocateRequest], concurrency: int, cache: Path, **teacher_cfg: object) -> float:
    cfg = OmegaConf.merge(OmegaConf.structured(LemmaConfig), {"teacher": {
        "name": "openai", "backend": "openai", "model": "fake-gpt", "base_url": base_url, "api_key_env": KEY_ENV,
        "max_concurrency": concurrency, "datasets": ["gsm8k"], **teacher_cfg}})
    teacher = LLMTeacher.from_config(cfg, cache)
    start = time.perf_counter()
    outcomes = teacher.locate(requests)
    elapsed = time.perf_counter() - start
    if not all(o.ok for o in outcomes):
        raise RuntimeError(f"{sum(not o.ok for o in outcomes)} locate outcomes failed")
    return elapsed


def sequential_workers(base_url: str, requests: list[LocateRequest], workers: int) -> float:
    """The original scheme: `workers` threads, each with a blocking client and one request at a time."""
    from openai import OpenAI

    todo: queue.Queue = queue.Queue()
    for r in requests:
        todo.put(jobs.locate_prompt("default", r.problem, r.solution).messages)

    def worker() -> None:
        client = OpenAI(api_key=os.environ[KEY_ENV], base_url=base_url, max_retries=0, timeout=30)
        while True:
            try:
                messages = todo.get_nowait()
            except queue.Empty:
                return
            client.chat.completions.create(model="fake-gpt", messages=messages, temperature=0.7, top_p=1.0,
                                           max_tokens=4096)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def server_stats(base_url: str) -> dict:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats", timeout=10) as response:
        return json.loads(response.read())


def fixed_latency_part(args: argparse.Namespace, requests: list[LocateRequest]) -> None:
    server, base_url = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ours(base_url, requests[:8], 8, Path(tmp) / "warmup")  # imports and first connections, not timed
            t_seq = sequential_workers(base_url, requests, args.workers)
            cpu = time.process_time()
            t_ours = ours(base_url, requests, args.concurrency, Path(tmp))
            cpu_ours = time.process_time() - cpu
            t_warm = ours(base_url, requests, args.concurrency, Path(tmp))
    finally:
        server.kill()
        server.wait()
    n = len(requests)
    print(f"{n} requests, server latency {args.latency * 1000:.0f} ms, load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"  original scheme, {args.workers} sequential workers: {t_seq:6.2f} s  {n / t_seq:7.1f} req/s")
    print(f"  lemma async client, {args.concurrency} in flight:     {t_ours:6.2f} s  {n / t_ours:7.1f} req/s")
    print(f"  lemma, rerun on a warm cache (no requests):  {t_warm:6.2f} s  {n / t_warm:7.1f} req/s")
    print(f"  speed-up: {t_seq / t_ours:.2f}x (ideal {args.concurrency / args.workers:.0f}x); lemma client CPU "
          f"{1000 * cpu_ours / n:.2f} ms per request")


def realistic_part(args: argparse.Namespace, requests: list[LocateRequest]) -> None:
    """Log-normal latency around `median_latency`, an RPM limit: how close to the limit does the client run?"""
    server, base_url = start_server(0.0, "--latency-median", str(args.median_latency), "--latency-sigma",
                                    str(args.sigma), "--rpm", str(args.rpm))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cpu = time.process_time()
            wall = ours(base_url, requests, args.concurrency, Path(tmp), rpm=args.rpm, request_timeout_s=60.0)
            cpu_s = time.process_time() - cpu
            stats = server_stats(base_url)
    finally:
        server.kill()
        server.wait()
    n, limit_per_s = len(requests), args.rpm / 60.0
    flowing = stats["accepted_span_s"] or wall
    print(f"realistic endpoint: {n} requests, latency log-normal (median {args.median_latency:.1f} s, sigma "
          f"{args.sigma}), limit {args.rpm:.0f} RPM ({limit_per_s:.1f}/s, per-second buckets), client rpm="
          f"{args.rpm:.0f}, {args.concurrency} in flight at most; load average {os.getloadavg()[0]:.1f}")
    print(f"  end to end: {wall:6.1f} s, {60 * n / wall:6.0f} RPM = {100 * n / wall / limit_per_s:5.1f}% of the "
          f"limit (the last replies' latency included)")
    print(f"  while requests flowed ({flowing:.1f} s between the first and last admitted): "
          f"{60 * (n - 1) / flowing:6.0f} RPM = {100 * (n - 1) / flowing / limit_per_s:5.1f}% of the limit")
    print(f"  429s from the server: {stats['outcomes'].get('429', 0)}; client CPU {1000 * cpu_s / n:.2f} ms per "
          "request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=640)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--only", choices=["fixed", "realistic"], default=None)
    parser.add_argument("--rpm", type=int, default=600, help="the realistic endpoint's requests-per-minute limit")
    parser.add_argument("--realistic-n", type=int, default=1200)
    parser.add_argument("--median-latency", type=float, default=2.0)
    parser.add_argument("--sigma", type=float, default=0.5)
    args = parser.parse_args()
    os.environ.setdefault(KEY_ENV, "sk-bench")
    requests = locate_requests(max(args.n, args.realistic_n))
    if args.only != "realistic":
        fixed_latency_part(args, requests[:args.n])
    if args.only != "fixed":
        realistic_part(args, requests[:args.realistic_n])


if __name__ == "__main__":
    main()
