"""``runner rm``'s store side: runs and sweeps go with everything they own, and never while live."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from scratchlab.db import models as m
from scratchlab.db import open_store, queries
from scratchlab.db.annotations import add_tags, set_note
from scratchlab.db.deletion import delete_runs, delete_sweep, sweep_run_ids
from scratchlab.db.errors import RunNotFoundError, SweepInUseError, SweepNotFoundError
from scratchlab.db.ownership import Owner

OWNED = (
    m.params,
    m.timings,
    m.timing_replicates,
    m.activation_stats,
    m.metrics,
    m.final_metrics,
    m.run_tags,
)


def _rows(store) -> dict[str, int]:
    with store.read() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (*OWNED, m.runs, m.sweeps, m.sweep_tags)
        }


@pytest.fixture
def store(db_url, db_samples):
    """Two finished sweeps of two runs with full results, tags and notes."""
    with open_store(db_url) as store:
        for sweep in ("first", "second"):
            sweep_id = store.create_sweep(sweep, ["runner"], {}, {})
            ids = store.add_runs(
                sweep_id, [db_samples.planned_run(f"{sweep}{i}") for i in range(2)]
            )
            for run_id in ids.values():
                store.write_result(run_id, db_samples.full_result())
                add_tags(store, "run", [run_id], ["mine"])
                set_note(store, run_id, "a note")
            add_tags(store, "sweep", [sweep_id], ["old"])
            store.finish_sweep(sweep_id, "done")
        yield store


def test_deleting_runs_takes_everything_they_own_and_nothing_else(store):
    before = _rows(store)
    deleted = delete_runs(store, [1, 2])
    after = _rows(store)
    assert deleted.run_ids == (1, 2) and deleted.rows["runs"] == 2
    for table in OWNED:  # exactly half of every owned table went: the other sweep's runs are whole
        assert after[table.name] == before[table.name] // 2, table.name
    assert after["sweeps"] == 2 and after["sweep_tags"] == 2
    assert list(queries.list_runs(store)["run_id"]) == [3, 4]


def test_deleting_a_sweep_takes_its_runs_and_tags(store):
    assert sweep_run_ids(store, 2) == [3, 4]
    deleted = delete_sweep(store, 2)
    assert deleted.sweep_ids == (2,) and deleted.run_ids == (3, 4)
    assert list(queries.list_sweeps(store)["sweep_id"]) == [1]
    after = _rows(store)
    assert after["sweep_tags"] == 1 and after["runs"] == 2 and after["run_tags"] == 2


def test_unknown_ids_delete_nothing(store):
    before = _rows(store)
    with pytest.raises(RunNotFoundError, match=r"no run 9 in .*; nothing was deleted"):
        delete_runs(store, [1, 9])
    with pytest.raises(SweepNotFoundError, match="no sweep 5"):
        delete_sweep(store, 5)
    assert _rows(store) == before


def test_a_sweep_whose_driver_is_alive_is_refused(store, db_samples):
    # a live driver: another process on this host, with a fresh heartbeat
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = store.create_sweep(
            "live", ["runner"], {}, {}, owner=Owner(socket.gethostname(), sleeper.pid)
        )
        (run_id,) = store.add_runs(live, [db_samples.planned_run("running")]).values()
        before = _rows(store)
        with pytest.raises(SweepInUseError, match=f"sweep {live} is still running in process"):
            delete_sweep(store, live)
        with pytest.raises(SweepInUseError, match="nothing was deleted"):
            delete_runs(store, [1, run_id])
        assert _rows(store) == before
    finally:
        sleeper.kill()
        sleeper.wait()
    delete_sweep(store, live)  # its driver is gone: allowed
    assert os.getpid() and live not in list(queries.list_sweeps(store)["sweep_id"])
