"""``runner sweeps``, ``tag``, ``note`` and ``rm`` on a real SQLite file, as a user types them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from scratchlab.core.records import MetricRecord, PlannedRun, RunResult
from scratchlab.db import open_store, queries
from scratchlab.db.ownership import Owner
from scratchlab.runner.cli import cli


def _planned(key: str, init: str) -> PlannedRun:
    return PlannedRun(key, "train", {"init": init, "matmul": "torch"}, {"lr": 0.2})


@pytest.fixture
def db(tmp_path) -> str:
    """Sweep 1 (done): runs 1-3; sweep 2 with a long name (done): runs 4-5."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_store(url) as store:
        for name, inits in (
            ("grid", ["randn", "simple", "xavier"]),
            ("x" * 60, ["lsuv", "simple"]),
        ):
            sweep = store.create_sweep(name, ["runner", "sweep"], {}, {})
            ids = store.add_runs(
                sweep, [_planned(f"{name[:4]}{i}", init) for i, init in enumerate(inits)]
            )
            for run_id in ids.values():
                store.write_result(
                    run_id, RunResult("done", metrics=[MetricRecord("valid_accuracy", 0.5, 1)])
                )
            store.finish_sweep(sweep, "done")
    return url


def invoke(db: str, *args: str, input: str | None = None, columns: int = 80):
    return CliRunner().invoke(cli, ["--db", db, *args], input=input, env={"COLUMNS": str(columns)})


def test_sweeps_fit_80_columns_and_give_json(db):
    invoke(db, "tag", "--sweep", "2", "long-one")
    shown = invoke(db, "sweeps")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert "grid" in shown.output and "3 done" in shown.output and "long-one" in shown.output

    data = json.loads(invoke(db, "sweeps", "--json").output)
    assert [s["sweep_id"] for s in data] == [1, 2]
    assert data[0]["counts"]["done"] == 3 and data[0]["runs"] == 3 and data[0]["tags"] == []
    assert data[1]["tags"] == ["long-one"] and data[1]["duration_s"] >= 0
    only = json.loads(invoke(db, "sweeps", "--tag", "long-one", "--json").output)
    assert [s["sweep_id"] for s in only] == [2]


def test_tags_filter_runs_and_come_off_again(db):
    assert invoke(db, "tag", "1", "3", "best").exit_code == 0
    assert invoke(db, "tag", "--sweep", "2", "old").exit_code == 0

    def ids(*where: str) -> list[int]:
        result = invoke(db, "runs", *(f"--where={w}" for w in where), "--json")
        assert result.exit_code == 0, result.output
        return [r["run_id"] for r in json.loads(result.output)["runs"]]

    assert ids("tag=best") == [1, 3]
    assert ids("tag=old") == [4, 5]
    assert ids("tag=best,old", "init=simple") == [5]
    removed = invoke(db, "tag", "--remove", "3", "best")
    assert removed.exit_code == 0 and "1 changed" in removed.output
    assert ids("tag=best") == [1]


def test_a_note_is_set_shown_and_cleared(db):
    assert invoke(db, "note", "2", "lr 0.2 is too low here").exit_code == 0
    shown = invoke(db, "note", "2")
    assert shown.exit_code == 0 and shown.output.strip() == "lr 0.2 is too low here"
    invoke(db, "tag", "2", "look-again")
    detail = invoke(db, "show", "2")
    assert "lr 0.2 is too low here" in detail.output and "look-again" in detail.output
    assert invoke(db, "note", "2", "--clear").exit_code == 0
    assert "has no note" in invoke(db, "note", "2").output


@pytest.mark.parametrize(
    "args, message",
    [
        (("tag", "99", "best"), "no run 99"),
        (("tag", "--sweep", "9", "best"), "no sweep 9"),
        (("tag", "1", "a,b"), "has a comma"),
        (("note", "99", "text"), "no run 99"),
        (("rm", "--yes", "1", "99"), "no run 99"),
        (("rm", "--yes", "--sweep", "9"), "no sweep 9"),
    ],
)
def test_mistakes_are_one_line_and_change_nothing(db, args, message):
    result = invoke(db, *args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    with open_store(db, read_only=True) as store:
        assert queries.count_runs(store) == 5


def test_rm_asks_first_and_deletes_runs_or_a_whole_sweep(db):
    declined = invoke(db, "rm", "1", "2", input="n\n")
    assert declined.exit_code == 1 and "Delete 2 runs" in declined.output
    assert invoke(db, "rm", "1", "2", input="y\n").exit_code == 0
    gone = invoke(db, "rm", "--sweep", "2", "--yes")
    assert gone.exit_code == 0 and "deleted sweep 2 and 2 run(s)" in gone.output
    with open_store(db, read_only=True) as store:
        assert list(queries.list_runs(store)["run_id"]) == [3]
        assert list(queries.list_sweeps(store)["sweep_id"]) == [1]


def test_rm_refuses_a_sweep_whose_driver_is_alive(db):
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with open_store(db) as store:
            live = store.create_sweep(
                "live", ["runner"], {}, {}, owner=Owner(socket.gethostname(), driver.pid)
            )
            store.add_runs(live, [_planned("live0", "randn")])
        result = invoke(db, "rm", "--yes", "--sweep", str(live))
        assert result.exit_code == 1 and "still running" in result.output
        assert "nothing was deleted" in result.output
    finally:
        driver.kill()
        driver.wait()
    with open_store(db, read_only=True) as store:
        assert queries.count_runs(store) == 6


@pytest.mark.slow  # a subprocess or real sweep: tens of seconds on a busy machine
def test_sweep_tag_labels_the_sweep_and_a_bad_tag_stops_before_anything_is_stored(sweep, db_file):
    bad = sweep("--experiments", "echo", "--matmul", "toy-a", "--tag", "a,b")
    assert bad.exit_code == 2 and "--tag" in bad.output and not db_file.exists()
    done = sweep("--experiments", "echo", "--matmul", "toy-a,toy-b", "--tag", "first", "--quiet")
    assert done.exit_code == 0, done.output
    url = f"sqlite:///{db_file}"
    listed = json.loads(invoke(url, "sweeps", "--json").output)
    assert listed[0]["tags"] == ["first"]
    tagged = json.loads(invoke(url, "runs", "--where", "tag=first", "--json").output)
    assert tagged["total"] == 2
