"""The one count of a sweep's outcomes (runner.reporting.Tally): each run by its latest outcome,
so the progress the sweep shows and the summary it ends with agree."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from scratchlab.core.records import PlannedRun
from scratchlab.runner.progress import LogLines, summary_rows
from scratchlab.runner.reporting import Tally
from scratchlab.runner.spec import SweepSpec
from scratchlab.runner.sweeping import Execution, run_sweep


def run(key: str, experiment: str = "train") -> PlannedRun:
    return PlannedRun(key=key, experiment=experiment, components={}, params={})


def test_counts_leave_out_zeros_and_timeouts_count_as_failed():
    tally = Tally()
    tally.add(run("a"), "done")
    assert tally.short() == "1 done"
    tally.add(run("b"), "timeout")
    tally.add(run("c"), "skipped")
    assert tally.short() == "1 done · 1 failed · 1 skipped"


def test_a_run_reported_again_counts_once_as_it_ended_last():
    tally = Tally()
    tally.add(run("a"), "failed", 2.0)
    tally.add(run("b", "matmul"), "done", 1.0)
    tally.add(run("a"), "done", 3.0)  # measured again: its new outcome replaces the old one
    assert tally.finished == 2 and tally.short() == "2 done"
    assert summary_rows(tally) == [
        {"experiment": "train", "done": 1, "seconds": 3.0},
        {"experiment": "matmul", "done": 1, "seconds": 1.0},
        {"experiment": "total", "done": 2, "seconds": 4.0},
    ]


@pytest.mark.usefixtures("toy_path")
def test_the_progress_and_the_summary_agree_after_runs_are_measured_again(tmp_path: Path):
    """Two runs, both noisy at first and measured again by ``--retry-noisy``: four results
    arrive, and both the log lines and the summary count two runs, each done."""
    log = io.StringIO()
    spec = SweepSpec(
        experiments=("jittery",),
        repeat=2,
        settings={"jittery": {"counter": str(tmp_path / "measured"), "noisy_times": 2}},
        plugin_modules=("sweeptoy",),
    )
    outcome = run_sweep(
        spec,
        db=str(tmp_path / "runs.db"),
        execution=Execution(inline=True, retry_noisy=1),
        reporter=LogLines(log),
    )
    lines = log.getvalue().splitlines()
    assert len((tmp_path / "measured").read_text()) == 4  # each run measured twice
    # each round numbers its own runs: [1/2] [2/2], then the retry's [1/2] [2/2]
    assert re.findall(r"^\[(\d/\d)\] done", log.getvalue(), re.M) == ["1/2", "2/2"] * 2, lines
    assert outcome.summary == [
        {
            "experiment": "jittery",
            "done": 2,
            "seconds": pytest.approx(outcome.summary[0]["seconds"]),
        }
    ]
    assert outcome.tally.short() == "2 done"
