"""Searching instead of running the grid (runner.search, runner.trials): ``--search``,
``--trials``, ``--objective``, ranges in ``-s``, ``--workers``, ``--resume`` and ``sl.sweep``."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from scratchlab.runner.cli import cli

SEARCH = ("--experiments", "climb", "--objective", "score", "--inline")
TPE = ("--objective", "score", "--search", "tpe", "--trials", "3")


def xs(results, sweep_id: int = 1) -> list[float]:
    """The x each run of a sweep tried, in run order."""
    return [
        row[0]
        for row in results.query(
            "SELECT p.value_num FROM params p JOIN runs r USING (run_id)"
            " WHERE r.sweep_id = ? AND p.name = 'x' ORDER BY r.run_id",
            sweep_id,
        )
    ]


def test_a_search_runs_its_trials_and_stores_what_it_searched(sweep, results) -> None:
    result = sweep(
        *SEARCH, "-s", "climb.x=0..1", "-s", "climb.kind=a,b", "--search", "tpe", "--trials", "6"
    )
    assert result.exit_code == 0, result.output
    rows = results.query("SELECT status FROM runs")
    assert [r[0] for r in rows] == ["done"] * 6
    assert all(0 <= x <= 1 for x in xs(results)) and len(set(xs(results))) == 6
    kinds = {r[0] for r in results.query("SELECT value_text FROM params WHERE name = 'kind'")}
    assert kinds <= {"a", "b"}
    spec = json.loads(results.query("SELECT spec_json FROM sweeps")[0][0])
    assert spec["search"] == {
        "method": "tpe",
        "trials": 6,
        "objective": "score",
        "direction": "maximize",
        "prune": "none",
        "seed": None,
    }


def test_the_same_seed_tries_the_same_points(sweep, results) -> None:
    for _ in range(2):
        assert (
            sweep(*SEARCH, "-s", "climb.x=0..1", "--search", "random", "--trials", "3").exit_code
            == 0
        )
    assert xs(results, 1) == xs(results, 2)


def test_a_point_tried_before_is_not_run_again(sweep, results) -> None:
    result = sweep(*SEARCH, "-s", "climb.kind=a,b", "--search", "random", "--trials", "6")
    assert result.exit_code == 0, result.output
    assert results.count("runs") == 2  # six trials, two points


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("-s", "climb.x=1..0", *TPE), "the range is empty"),
        (("-s", "climb.x=-1..oops", *TPE), "must be numbers"),
        (("-s", "climb.steps=1..2.5", *TPE), "whole numbers"),
        (("-s", "climb.x=0..1"), "a range needs --search random or --search tpe"),
        (("-s", "climb.x=0..1", "--objective", "score"), "--objective needs --search"),
        (("-s", "climb.x=0..1", *TPE[:-1], "0"), "--trials 0"),
        (TPE, "nothing to search"),
        (("-s", "climb.x=0..1", "--search", "tpe"), "--search needs --trials and --objective"),
    ],
)
def test_a_bad_search_is_one_line_and_stores_nothing(sweep, db_file: Path, args, says) -> None:
    result = sweep("--experiments", "climb", *args)
    assert result.exit_code == 2
    assert says in result.stderr and "Traceback" not in result.output
    assert not db_file.exists()


def test_the_objective_must_name_a_direction_it_knows(sweep, db_file: Path) -> None:
    result = sweep(
        *SEARCH, "-s", "climb.x=0..1", "--search", "tpe", "--trials", "2", "--objective", "score:up"
    )
    assert result.exit_code == 2 and "the direction is max or min" in result.stderr


def test_sl_sweep_searches(toy_path: Path, db_file: Path) -> None:
    import scratchlab as sl

    done = sl.sweep(
        experiments="climb",
        settings={"climb.x": "0..1"},
        search="random",
        trials=3,
        objective="score",
        plugin_modules=["sweeptoy"],
        inline=True,
        db=db_file,
        progress=False,
    )
    assert done.status == "done"
    assert len(done.runs()) == 3


@pytest.mark.slow
def test_workers_run_trials_at_once(sweep, results) -> None:
    result = sweep(
        "--experiments",
        "climb",
        "--objective",
        "score",
        "-s",
        "climb.x=0..1",
        "-s",
        "climb.pause=0.5",
        "--search",
        "random",
        "--trials",
        "4",
        "--workers",
        "2",
    )
    assert result.exit_code == 0, result.output
    spans = results.query("SELECT started_at, finished_at FROM runs ORDER BY run_id")
    assert any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :])


def _wait_for(predicate: Callable[[], bool], seconds: float = 120) -> None:
    """Poll ``predicate`` until true; a database still being created (locked) counts as false."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(sqlite3.OperationalError):
            if predicate():
                return
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_resumed_search_continues_its_study_losing_and_duplicating_nothing(
    runner_process, sweep, results
) -> None:
    process = runner_process(
        "--experiments",
        "climb",
        "--objective",
        "score",
        "-s",
        "climb.x=0..1",
        "-s",
        "climb.pause=0.3",
        "--search",
        "tpe",
        "--trials",
        "6",
        "--workers",
        "1",
    )
    _wait_for(
        lambda: (
            results.path.exists()
            and results.query("SELECT count(*) FROM runs WHERE status = 'done'")[0][0] >= 2
        )
    )
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    before = dict(results.query("SELECT run_id, status FROM runs"))
    assert len(before) < 6 and "done" in before.values()

    result = sweep("--resume", "1", "--inline")
    assert result.exit_code == 0, result.output
    after = dict(results.query("SELECT run_id, status FROM runs"))
    assert len(after) == 6 and set(after.values()) == {"done"}  # six trials, no more
    assert set(before) <= set(after)  # an interrupted run was run again in place
    assert len({k for (k,) in results.query("SELECT key FROM runs")}) == 6
    # every run's score once per step, its final value beside it
    per_step = results.query(
        "SELECT run_id, step, count(*) FROM metrics WHERE name = 'score' GROUP BY run_id, step"
    )
    assert len(per_step) == 6 * 4 and {n for _, _, n in per_step} == {1}
    assert results.query("SELECT count(*) FROM final_metrics WHERE name = 'score'")[0][0] == 6


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_inline_runs_are_judged_too(sweep, results, pruner: str) -> None:
    result = sweep(
        *SEARCH, "-s", "climb.x=0..1", "--search", "random", "--trials", "12", "--prune", pruner
    )
    assert result.exit_code == 0, result.output
    statuses = [s for (s,) in results.query("SELECT status FROM runs")]
    assert len(statuses) == 12 and "pruned" in statuses and set(statuses) <= {"done", "pruned"}
    listed = CliRunner().invoke(
        cli, ["--db", results.url, "runs", "--where", "status=pruned", "--json"]
    )
    assert listed.exit_code == 0, listed.output
    assert {run["status"] for run in json.loads(listed.stdout)["runs"]} == {"pruned"}


def test_resuming_a_finished_search_runs_nothing(sweep, results) -> None:
    assert sweep(*SEARCH, "-s", "climb.x=0..1", "--search", "tpe", "--trials", "2").exit_code == 0
    again = sweep("--resume", "1", "--inline")
    assert again.exit_code == 0 and "every trial has ended; nothing to run" in again.stderr
    assert results.count("runs") == 2


def test_a_dry_run_shows_the_space_and_writes_nothing(sweep, db_file: Path) -> None:
    args = (*SEARCH, "-s", "climb.x=0..1", "-s", "climb.steps=2..5", "--search", "tpe")
    result = sweep(*args, "--trials", "4", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["space"] == "climb.x in 0..1 × climb.steps in 2..5"
    assert shown["search"]["trials"] == 4 and not db_file.exists()


@pytest.mark.slow
def test_a_search_runs_on_dask_too(sweep, results) -> None:
    result = sweep(
        "--experiments",
        "climb",
        "--objective",
        "score",
        "-s",
        "climb.x=0..1",
        "--search",
        "tpe",
        "--trials",
        "3",
        "--scheduler",
        "local",
        "--workers",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert [s for (s,) in results.query("SELECT status FROM runs")] == ["done"] * 3
    assert results.query("SELECT count(*) FROM final_metrics WHERE name = 'score'") == [(3,)]


def test_a_trial_runs_each_of_its_repeats(sweep, results) -> None:
    result = sweep(
        *SEARCH, "-s", "climb.x=0..1", "--search", "random", "--trials", "2", "--repeat", "2"
    )
    assert result.exit_code == 0, result.output
    rows = results.query("SELECT seed, repeat FROM runs ORDER BY run_id")
    assert rows == [(0, 0), (1, 1), (0, 0), (1, 1)]  # two points, each run twice
    assert len(set(xs(results))) == 2
