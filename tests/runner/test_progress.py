"""The sweep's progress display: what stays visible on a narrow terminal, and stored text escaped."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from scratchlab.core.records import PlannedRun, RunResult
from scratchlab.runner.progress import LiveProgress, LogLines, NotebookProgress
from scratchlab.runner.reporting import SweepReporter

LONG = PlannedRun(
    key="k",
    experiment="train",
    components={
        "init": "kaiming-normal",
        "activation": "relu",
        "loss": "cross-entropy",
        "matmul": "elementwise",
        "dataset": "mnist-5k",
    },
    params={},
    seed=0,
    repeat=0,
)
HOSTILE = PlannedRun(
    key="h",
    experiment="matmul",
    components={"matmul": "\x1b[2J\x1b]0;pwned\x07[bold]x"},
    params={},
    seed=0,
    repeat=0,
)


def result(status: str, reason: str | None = None) -> RunResult:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return RunResult(status, reason, start, start + timedelta(seconds=1))


def bar_lines(width: int) -> list[str]:
    # not a terminal: rich writes no cursor codes of its own, only what the reporter prints
    console = Console(width=width, file=io.StringIO(), color_system=None)
    reporter = LiveProgress(console)
    reporter.start("sweep 12 (matmul+init-20261201-032723)", 61)
    for i in range(13):
        run = dataclasses.replace(LONG, key=f"k{i}")  # 13 runs, one label
        reporter.run_started(run)
        reporter.run_finished(run, result("done"))
    reporter.run_finished(HOSTILE, result("failed", "Traceback ...\nValueError: \x1b[31mboom"))
    reporter.run_started(LONG)
    console.print(reporter.progress.get_renderable())
    reporter.progress.stop()
    return console.file.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 100])
def test_the_bar_count_and_elapsed_time_stay_and_the_label_is_cut(width):
    lines = bar_lines(width)
    bar = lines[-1]
    assert len(bar) <= width
    assert "━" in bar and "14/61" in bar and "13 done · 1 failed" in bar and "0:00:0" in bar
    assert "train(" in bar and "mnist-5k) cpu #0" not in bar  # the label is what gave way
    assert lines[0].startswith("sweep 12")


def test_stored_text_reaches_the_terminal_escaped():
    text = "\n".join(bar_lines(80))
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[31mboom" in text and "\\x1b[2J" in text and "[bold]x" in text

    stream = io.StringIO()
    log = LogLines(stream)
    log.start("sweep 1 (\x1b[31m)", 1)
    log.run_finished(HOSTILE, result("failed", "ValueError: \x1b[31mboom"))
    log.warn("plugin \x1b[2J")
    assert "\x1b" not in stream.getvalue() and stream.getvalue().count("\\x1b") == 5


def test_every_reporter_implements_the_sweep_reporter_protocol():
    for reporter in (
        LiveProgress(Console(file=io.StringIO())),
        LogLines(io.StringIO()),
        NotebookProgress(),
    ):
        assert isinstance(reporter, SweepReporter)
