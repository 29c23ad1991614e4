"""Teacher-client throughput: our async client (64 in flight) versus the original's scheme (8 sequential workers).

The original ran 8 processes, each sending one blocking request at a time (METHOD.md §10, defect 10). Against an
endpoint with fixed latency L that caps throughput at 8/L requests per second whatever the server could take. This
script starts the fake OpenAI server (tests/fakes/openai_server.py) in its own process with 100 ms latency, sends the
same N locate prompts both ways, and prints both throughputs and their ratio (the ideal is 64/8 = 8x). A third pass
repeats our run on the warm cache (no requests at all).

    python benchmarks/bench_teacher.py [--n 640] [--latency 0.1] [--concurrency 64] [--workers 8]
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from omegaconf import OmegaConf

from lemma.config import REPO_ROOT, LemmaConfig
from lemma.data import load_train_problems
from lemma.teacher import jobs
from lemma.teacher.base import LocateRequest
from lemma.teacher.llm import LLMTeacher

KEY_ENV = "LEMMA_BENCH_KEY"


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--latency", str(latency)],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def locate_requests(n: int) -> list[LocateRequest]:
    data = OmegaConf.create({"datasets": ["gsm8k"], "path": str(REPO_ROOT.parent / "shared" / "data" / "train"),
                             "source": "local", "limit": n, "strip_calculator_annotations": True})
    return [LocateRequest(p, p.reference) for p in load_train_problems(data)]


def ours(base_url: str, requests: list[LocateRequest], concurrency: int, cache: Path) -> float:
    cfg = OmegaConf.merge(OmegaConf.structured(LemmaConfig), {"teacher": {
        "name": "openai", "backend": "openai", "model": "fake-gpt", "base_url": base_url, "api_key_env": KEY_ENV,
        "max_concurrency": concurrency, "datasets": ["gsm8k"]}})
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=640)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault(KEY_ENV, "sk-bench")
    requests = locate_requests(args.n)
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


if __name__ == "__main__":
    main()
