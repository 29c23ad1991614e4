"""A small synthetic SFT set in the real prompt format, for tests, `benchmarks/bench_packing.py` and the GPU check.

Word problems with step-by-step answers of varied length (so padding and packing matter), rendered through
`lemma.prompt_format` like every real row. Deterministic in `seed`; no network, no pipeline needed.
"""

from __future__ import annotations

import random

from lemma.prompt_format import get_format

NAMES = ("Ann", "Bo", "Cy", "Dee", "Eli", "Fay")
ITEMS = ("apples", "books", "coins", "marbles", "pens", "shells")


def make_example(rng: random.Random) -> tuple[str, str]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    total = rng.randint(2, 20)
    question = f"{name} has {total} {item}."
    steps = []
    for k in range(rng.randint(1, 8)):
        n = rng.randint(1, 9)
        if rng.random() < 0.5:
            question += f" Then {name} gets {n} more."
            steps.append(f"Step {k + 1}: {total} + {n} = {total + n}.")
            total += n
        else:
            question += f" Then {name} doubles them and gives away {n}."
            steps.append(f"Step {k + 1}: {total} * 2 - {n} = {2 * total - n}.")
            total = 2 * total - n
    question += f" How many {item} does {name} have now?"
    return question, " ".join(steps) + f" The answer is: {total}"


def make_pairs(n: int, seed: int = 0, prompt_format: str = "cot_meta_math") -> list[tuple[str, str]]:
    """(prompt, completion) pairs as the train stage writes them."""
    rng, fmt = random.Random(seed), get_format(prompt_format)
    return [fmt.sft_pair(*make_example(rng)) for _ in range(n)]


def corpus(pairs: list[tuple[str, str]]) -> list[str]:
    """Texts to train a tiny tokenizer on."""
    return [p + c for p, c in pairs]


def tiny_setup(root: "Path", n: int = 128, seed: int = 0, **tiny: int) -> tuple["Path", "Path"]:
    """A tiny model folder and a rows file under `root` (built once per folder): a TrainJob needs nothing else."""
    from pathlib import Path

    from lemma.config import TinyModelConfig
    from lemma.model.tiny import build_tiny
    from lemma.training.data import write_rows

    root = Path(root)
    pairs = make_pairs(n, seed)
    model, rows = root / "tiny", root / "rows.jsonl"
    if not (model / "config.json").is_file():
        build_tiny(corpus(pairs), TinyModelConfig(**tiny), model, seed=seed)
    write_rows(rows, pairs)
    return model, rows
