"""The README's main command, ``runner sweep --plugins matmul,init``, end to end on the embedded data."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest
from fixtures.main_job import GROUP


@pytest.mark.slow
@GROUP
@pytest.mark.timeout(1500)  # ~70 runs; minutes on a busy 2-core machine
def test_the_readme_main_command_runs_end_to_end_into_runs_db(readme_main_job):
    job = readme_main_job
    assert job.command == ["runner", "sweep", "--plugins", "matmul,init"]
    assert job.plan.returncode == 0, job.plan.stderr[-3000:]
    planned = job.planned
    # the four lessons' experiments, each inits (and matmuls) times over, whatever components are built in
    assert {"matmul", "init-stats", "gradcheck", "train"} <= set(planned)
    assert planned["train"] > planned["init-stats"] >= 7

    result = job.run
    assert result.returncode == 0, result.stderr[-3000:]
    database = job.db  # the default database, in the working directory
    assert database.exists()
    with sqlite3.connect(database) as db:
        stored = Counter(
            dict(db.execute("SELECT experiment, count(*) FROM runs GROUP BY experiment").fetchall())
        )
        assert stored == planned
        statuses = dict(db.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
        assert set(statuses) <= {"done", "skipped"}, statuses
        # only train with the triple-loop python matmul is skipped: too many multiply-adds
        skipped = db.execute(
            "SELECT DISTINCT r.experiment, p.value_text, r.reason FROM runs r JOIN params p USING (run_id)"
            " WHERE r.status = 'skipped' AND p.name = 'matmul'"
        ).fetchall()
        assert (
            len(skipped) == 1
            and skipped[0][:2] == ("train", "python")
            and "multiply-adds" in skipped[0][2]
        )
        # every done run stored what its experiment records
        assert (
            db.execute("SELECT count(DISTINCT run_id) FROM timings").fetchone()[0]
            >= planned["matmul"]
        )
        assert (
            db.execute(
                "SELECT count(DISTINCT run_id) FROM activation_stats JOIN runs USING (run_id)"
                " WHERE experiment = 'init-stats'"
            ).fetchone()[0]
            == planned["init-stats"]
        )
        done_train = db.execute(
            "SELECT count(*) FROM runs WHERE experiment = 'train' AND status = 'done'"
        ).fetchone()[0]
        assert done_train == planned["train"] - statuses.get("skipped", 0)
        assert (
            db.execute(
                "SELECT count(DISTINCT run_id) FROM metrics JOIN runs USING (run_id) WHERE experiment = 'train'"
            ).fetchone()[0]
            == done_train
        )
        assert db.execute("SELECT status FROM sweeps").fetchall() == [("done",)]
    for experiment in (*planned, "total"):
        assert experiment in result.stdout
