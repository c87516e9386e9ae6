"""Final metrics are kept beside their history (``final_metrics``), by the write
path and by migration 0004 for databases written before it, with one rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from scratchlab.core.records import MetricRecord, PlannedRun, RunResult
from scratchlab.db import open_store, queries, upgrade
from scratchlab.db.filters import RunFilter
from scratchlab.db.final import final_rows

T0 = datetime(2026, 3, 1, tzinfo=UTC)
METRICS = [
    MetricRecord("acc", 0.1, 0),
    MetricRecord("acc", 0.95, None),
    MetricRecord("acc", 0.2, 5),
    MetricRecord("loss", 0.3, 2),
    MetricRecord("loss", 0.4, 2),
    MetricRecord("loss", 0.9, 1),
    MetricRecord("speed", 7.0, None),
    MetricRecord("bad", float("nan"), 3),
]
EXPECTED = {"acc": 0.95, "loss": 0.4, "speed": 7.0}


def _write(url: str) -> int:
    with open_store(url) as store:
        sweep = store.create_sweep("s", ["runner"], {}, {})
        (run_id,) = store.add_runs(sweep, [PlannedRun("k", "train", {}, {})]).values()
        store.write_result(
            run_id,
            RunResult(
                "done", started_at=T0, finished_at=T0 + timedelta(seconds=1), metrics=METRICS
            ),
        )
    return run_id


def _final(url: str) -> dict:
    with open_store(url, read_only=True) as store:
        rows = queries.final_metrics(store)
    return dict(zip(rows["name"], rows["value"], strict=True))


def test_the_rule_in_python_matches_the_stored_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    run_id = _write(url)
    final = _final(url)
    assert {k: final[k] for k in EXPECTED} == EXPECTED and final["bad"] != final["bad"]  # NaN kept
    assert {r[1]: r[3] for r in final_rows(run_id, METRICS) if r[1] != "bad"} == EXPECTED


def test_migration_0004_fills_final_metrics_from_the_stored_histories(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _write(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the database as revision 0003 left it
        conn.execute(sa.text("DROP TABLE final_metrics"))
        # what 0006 added (tags and notes) goes too
        for statement in ("DROP TABLE run_tags", "DROP TABLE sweep_tags"):
            conn.execute(sa.text(statement))
        conn.execute(sa.text("ALTER TABLE runs DROP COLUMN note"))
        conn.execute(sa.text("UPDATE scratchlab_version SET version_num = '0003'"))
    engine.dispose()
    upgrade(url)
    final = _final(url)
    assert {k: final[k] for k in EXPECTED} == EXPECTED
    with open_store(url, read_only=True) as store:
        assert queries.count_runs(store, RunFilter(metrics={"acc": (0.9, None)})) == 1
