"""Progress reporting: periodic log lines off a terminal, rate and ETA, vLLM's bar protocol, chunked grading."""

from __future__ import annotations

import logging
import time

from lemma.progress import Progress, ProgressGrader, VLLMProgressBar, human_count, human_duration


def test_periodic_lines_off_a_terminal_and_a_closing_line(caplog):
    caplog.set_level(logging.INFO, logger="lemma.progress")
    with Progress("sample: generate", 10, interval_s=0.05, unit="samples", tty=False,
                  stats=lambda: "truncated 1") as progress:
        progress.skip(2)  # instant (cached): counted as done, not in the rate
        for _ in range(4):
            time.sleep(0.04)
            progress.advance()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) >= 3 and lines[-1].endswith("(finished)")
    assert lines[-1].startswith("sample: generate: 6/10 (60.0%)") and "truncated 1" in lines[-1]
    assert "samples/s" in lines[0] and "ETA" in lines[0]


def test_quick_loops_stay_quiet(caplog):
    caplog.set_level(logging.INFO, logger="lemma.progress")
    with Progress("x", 3, interval_s=60, tty=False) as progress:
        progress.advance(3)
    assert caplog.records == []


def test_rate_ignores_instant_items_and_total_can_grow():
    progress = Progress("x", 100, interval_s=0, tty=False)
    progress.skip(50)
    assert progress.rate() == 0 and progress.eta_s() is None
    progress.start -= 10  # ten seconds ago
    progress.advance(10)
    assert 0.9 < progress.rate() < 1.1 and 35 < progress.eta_s() < 45
    progress.add_total(20)
    assert progress.total == 120 and "60/120" in progress.line()
    progress.close()


def test_vllm_bar_protocol():
    progress = Progress("gen", 6, interval_s=0, tty=False)
    factory = VLLMProgressBar.factory(progress, per_update=2)
    adding = factory(["p1", "p2", "p3"], desc="Adding requests")
    assert list(adding) == ["p1", "p2", "p3"] and progress.done == 0
    bar = factory(total=3, desc="Processed prompts", dynamic_ncols=True, postfix="x")
    bar.update(1)
    bar.postfix = "est. speed"
    assert bar.format_dict["elapsed"] > 0  # vLLM divides by it
    bar.update(2)  # some versions pass n samples: still one finished request
    bar.set_description("whatever")
    bar.close()
    assert progress.done == 4
    progress.close()


def test_progress_grader_chunks_and_counts():
    calls = []

    class Grader:
        timeouts = 3

        def grade(self, preds, golds):
            calls.append(len(preds))
            return [p == g for p, g in zip(preds, golds)]

    progress = Progress("grade", 0, interval_s=0, tty=False)
    grader = ProgressGrader(Grader(), progress, chunk=4)
    assert grader.grade(list("abcdefghij"), list("abcxefghiy")) == [True] * 3 + [False] + [True] * 5 + [False]
    assert calls == [4, 4, 2] and progress.done == progress.total == 10 and grader.timeouts == 3
    progress.close()


def test_human_units():
    assert human_duration(59) == "59s" and human_duration(90) == "1m30s" and human_duration(5400) == "1h30m"
    assert human_count(1234) == "1,234" and human_count(2_500_000) == "2.50M"
