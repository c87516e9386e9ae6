"""What a run sends while it runs (runner.live): metric batches stored at once, values a
pruner judges, and runs stopped by the pruner or by ``--timeout`` that keep what they sent.
Real worker processes throughout."""

from __future__ import annotations

import contextlib
import sqlite3
import time

import pytest

from scratchlab.runner.live import LIVE_INTERVAL

pytestmark = pytest.mark.slow


def test_metrics_reach_the_database_while_the_run_runs(runner_process, results) -> None:
    import scratchlab as sl
    import scratchlab.reading  # imported now: the first open must not miss batches

    process = runner_process(
        "--experiments", "climb", "-s", "climb.steps=16", "-s", "climb.pause=0.3", "--workers", "1"
    )
    seen_running: list[int] = []  # score rows stored, seen while the run was running
    api_saw = None
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        running = False
        with contextlib.suppress(sqlite3.OperationalError):  # being created (locked)
            if results.path.exists():
                running = results.query("SELECT status FROM runs") == [("running",)]
                count = results.query("SELECT count(*) FROM metrics")[0][0]
        if running:
            seen_running.append(count)
            if api_saw is None and seen_running[-1] >= 3:
                with sl.open(results.path) as opened:  # the notebook API sees them too
                    api_saw = opened.metrics()
        time.sleep(0.1)
    process.communicate(timeout=60)
    assert process.returncode == 0
    # the history grew while the run ran, in batches about LIVE_INTERVAL apart
    assert len(set(seen_running) - {0}) >= 2, seen_running
    assert api_saw is not None and 0 < len(api_saw) < 16
    assert LIVE_INTERVAL <= 2
    rows = results.query("SELECT step, count(*) FROM metrics WHERE name = 'score' GROUP BY step")
    assert rows == [(step, 1) for step in range(1, 17)]
    assert results.query("SELECT step, value FROM final_metrics") == [(16, 8.0)]


def test_the_pruner_stops_poor_trials_and_they_keep_what_they_reported(sweep, results) -> None:
    result = sweep(
        "--experiments",
        "climb",
        "-s",
        "climb.x=0..1",
        "--search",
        "random",
        "--trials",
        "12",
        "--objective",
        "score",
        "--prune",
        "median",
        "--workers",
        "1",
    )
    assert result.exit_code == 0, result.output
    pruned = results.query("SELECT run_id, reason FROM runs WHERE status = 'pruned'")
    assert pruned and results.count("runs") == 12
    for run_id, reason in pruned:
        step = int(reason.split("pruned at step ")[1].split(":")[0])
        assert step < 4 and "(the median pruner)" in reason
        # every reported value up to the step it was stopped at, once each, and no further
        steps = results.query("SELECT step FROM metrics WHERE run_id = ? ORDER BY step", run_id)
        assert steps == [(s,) for s in range(1, step + 1)]
    assert "pruned" in result.stdout  # the summary counts them


def test_a_run_killed_at_its_timeout_keeps_the_metrics_it_sent(sweep, results) -> None:
    result = sweep("--experiments", "stubborn", "--timeout", "2", "--workers", "1")
    assert result.exit_code == 1
    assert results.query("SELECT status FROM runs") == [("timeout",)]
    steps = [s for (s,) in results.query("SELECT step FROM metrics WHERE name = 'beat'")]
    assert steps and steps == list(range(len(steps)))  # what was sent, each step once
    assert results.query("SELECT step FROM final_metrics") == [(steps[-1],)]


def test_prune_needs_workers_that_can_report(sweep, results) -> None:
    result = sweep(
        "--experiments",
        "climb",
        "-s",
        "climb.x=0..1",
        "--search",
        "random",
        "--trials",
        "2",
        "--objective",
        "score",
        "--prune",
        "median",
        "--scheduler",
        "tcp://127.0.0.1:1",
    )
    assert result.exit_code == 2 and "--prune judges values" in result.stderr
    assert not results.path.exists() or results.count("sweeps") == 0
