"""Two processes creating and writing one new database at the same time lose nothing (SQLite file, PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from scratchlab.db import open_store, queries

RUNS_PER_WORKER = 60
POINTS_PER_RUN = 50

WORKER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from scratchlab.db import open_store
    from scratchlab.core.records import MetricRecord, PlannedRun, RunResult, StatRecord, TimingRecord

    url, name, go, runs, points = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    while not go.exists():  # start together, so both create the database at once
        time.sleep(0.005)
    start = time.time()
    store = open_store(url)
    sweep_id = store.create_sweep(name, [name], {}, {})
    for i in range(runs):
        key = f"{name}-{i}"
        planned = PlannedRun(key, "train", {"matmul": "torch"}, {"lr": i / 100, "worker": name})
        run_id = store.add_runs(sweep_id, [planned])[key]
        store.mark_running([run_id])
        store.write_result(run_id, RunResult(
            "done",
            timings=[TimingRecord("t", [0.001] * 10, 0.001, 0.0, 0.001, 0.001, 0.001)],
            stats=[StatRecord("mlp", layer, f"l{layer}", 0.0, 1.0, -1.0, 1.0, 0.5, 0.0) for layer in range(5)],
            metrics=[MetricRecord("loss", 1.0 / (step + 1), step) for step in range(points)],
        ))
    store.finish_sweep(sweep_id, "done")
    store.close()
    print(json.dumps({"sweep_id": sweep_id, "start": start, "end": time.time()}))
    """
)


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_two_processes_creating_and_writing_one_new_database_lose_nothing(db_url, tmp_path):
    url = db_url
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                url,
                name,
                str(go),
                str(RUNS_PER_WORKER),
                str(POINTS_PER_RUN),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    time.sleep(0.5)  # let both interpreters import and wait at the barrier
    go.touch()
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))

    # the writes really overlapped in time
    (a, b) = reports
    assert a["start"] < b["end"] and b["start"] < a["end"]

    with open_store(url, read_only=True) as store:
        sweeps = queries.list_sweeps(store)
        assert sorted(sweeps["name"]) == ["alpha", "beta"]
        assert list(sweeps["done"]) == [RUNS_PER_WORKER, RUNS_PER_WORKER]
        assert list(sweeps["status"]) == ["done", "done"]
        runs = queries.list_runs(store)
        assert len(runs) == 2 * RUNS_PER_WORKER and set(runs["status"]) == {"done"}
        for name in ("alpha", "beta"):
            mine = runs[runs["worker"] == name]
            assert sorted(mine["key"]) == sorted(f"{name}-{i}" for i in range(RUNS_PER_WORKER))
        history = queries.metrics(store, run_ids=list(runs["run_id"]))
        assert len(history) == 2 * RUNS_PER_WORKER * POINTS_PER_RUN
        assert len(queries.activation_stats(store)) == 2 * RUNS_PER_WORKER * 5
        timings = queries.timings(store)
        assert (
            len(queries.timing_replicates(store, list(timings["timing_id"])))
            == 2 * RUNS_PER_WORKER * 10
        )
