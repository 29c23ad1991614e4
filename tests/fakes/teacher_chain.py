"""Drive all six teacher jobs over N GSM8K train problems against an endpoint; write every outcome as JSON.

Test scaffolding for tests/integration/test_teacher_loopback.py, run in a subprocess so that the test can SIGKILL it
midway and restart it:

    python -m tests.fakes.teacher_chain --base-url http://127.0.0.1:PORT/v1 --cache DIR --out FILE [--limit 20]

The chain mirrors the pipeline: inject (types cycled over the injectable ones) -> locate and classify the injected
solutions -> truncate after the located step -> Fix & Continue and Fresh & Restart -> smooth the F&C trajectories.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from lemma.strategies import Strategy
from lemma.config import DATA_ROOT, DataConfig, LemmaConfig
from lemma.data import load_train_problems
from lemma.records import Problem
from lemma.steps import split_steps, truncate_after
from lemma.teacher.base import (ClassifyRequest, InjectRequest, LocateRequest, Outcome, ReviseRequest, SmoothRequest)
from lemma.teacher.llm import LLMTeacher

def gsm8k_problems(limit: int) -> list[Problem]:
    """The first `limit` GSM8K train problems of the shipped, pinned copy (data/train)."""
    data = OmegaConf.merge(OmegaConf.structured(DataConfig), {
        "kind": "files", "datasets": ["gsm8k"], "path": str(DATA_ROOT / "train"), "limit": limit})
    return load_train_problems(data)


def teacher_config(base_url: str, **teacher: Any) -> Any:
    cfg = OmegaConf.structured(LemmaConfig)
    settings = {"name": "openai", "backend": "openai", "model": "fake-gpt", "base_url": base_url,
                "api_key_env": "LEMMA_FAKE_KEY", "seed": 0, "datasets": ["gsm8k", "math", "arith"], **teacher}
    return OmegaConf.merge(cfg, {"teacher": settings})


def run_chain(teacher: LLMTeacher, problems: list[Problem]) -> dict[str, list[dict[str, Any]]]:
    types = sorted(teacher.injectable_types)
    inj = teacher.inject([InjectRequest(p, types[i % len(types)], 0) for i, p in enumerate(problems)])
    flawed = [(p, o.value.text) for p, o in zip(problems, inj) if o.ok]
    loc = teacher.locate([LocateRequest(p, text) for p, text in flawed])
    lab = teacher.classify([ClassifyRequest(p, text) for p, text in flawed])
    cut = [(p, truncate_after(text, split_steps(text, p.dataset), o.value.step))
           for (p, text), o in zip(flawed, loc) if o.ok and o.value.step]
    fix = teacher.revise(Strategy.fix, [ReviseRequest(p, prefix) for p, prefix in cut])
    fresh = teacher.revise(Strategy.fresh, [ReviseRequest(p, prefix) for p, prefix in cut])
    smooth = teacher.smooth([SmoothRequest(p, prefix + "\n" + o.value.continuation)
                             for (p, prefix), o in zip(cut, fix) if o.ok])
    return {name: [_plain(o) for o in outs] for name, outs in
            (("inject", inj), ("locate", loc), ("classify", lab), ("fix", fix), ("fresh", fresh),
             ("smooth", smooth))}


def _plain(outcome: Outcome[Any]) -> dict[str, Any]:
    value = outcome.value
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    return {"value": value, "failure": outcome.failure}


def main() -> None:
    parser = argparse.ArgumentParser(description="run the six teacher jobs over GSM8K problems")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("LEMMA_FAKE_KEY", "sk-fake")
    cfg = teacher_config(args.base_url, max_concurrency=args.concurrency)
    teacher = LLMTeacher.from_config(cfg, args.cache)
    outputs = run_chain(teacher, gsm8k_problems(args.limit))
    tmp = Path(args.out + ".tmp")
    tmp.write_text(json.dumps({"outputs": outputs, "usage": teacher.usage.since(type(teacher.usage)())},
                              default=str, sort_keys=True))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
