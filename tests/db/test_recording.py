"""A run's result rows: written whole, replaced whole, and streamed metrics kept, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from scratchlab.core.records import HistogramRecord, MetricRecord, RunResult
from scratchlab.db import open_store, queries
from scratchlab.db.engine import transaction
from scratchlab.db.histograms import activation_histograms
from scratchlab.db.recording import stream_metrics, write_result


@pytest.fixture
def run(db_url, db_samples):
    """An open store and the id of one planned run in it."""
    with open_store(db_url) as store:
        sweep_id = store.create_sweep("s", [], {}, {})
        run_id = store.add_runs(sweep_id, [db_samples.planned_run("k0")])["k0"]
        yield store, run_id


def metric_names(store, run_id) -> list[tuple[str, int, float]]:
    rows = queries.metrics(store, run_ids=[run_id])
    return sorted(zip(rows["name"], rows["step"], rows["value"], strict=True))


def test_streamed_metrics_stay_and_the_final_values_cover_them(run):
    store, run_id = run
    with transaction(store.engine, write=True) as conn:
        stream_metrics(conn, run_id, [MetricRecord("loss", 2.0, 0)], first=True)
        stream_metrics(conn, run_id, [MetricRecord("loss", 1.5, 1)], first=False)
    result = RunResult(status="done", metrics=[MetricRecord("loss", 1.0, 2)])
    with transaction(store.engine, write=True) as conn:
        assert write_result(conn, run_id, {"status": "done"}, result, streamed=True)
    assert metric_names(store, run_id) == [("loss", 0, 2.0), ("loss", 1, 1.5), ("loss", 2, 1.0)]
    final = queries.final_metrics(store, run_ids=[run_id])
    assert dict(zip(final["name"], final["value"], strict=True)) == {"loss": 1.0}


def test_a_first_batch_drops_what_an_earlier_attempt_left(run, db_samples):
    store, run_id = run
    store.write_result(run_id, db_samples.full_result())
    with transaction(store.engine, write=True) as conn:
        stream_metrics(conn, run_id, [MetricRecord("loss", 9.0, 0)], first=True)
    assert metric_names(store, run_id) == [("loss", 0, 9.0)]
    assert queries.timings(store, run_ids=[run_id]).empty


def test_an_unstreamed_result_replaces_every_row_and_keeps_histogram_counts(run):
    store, run_id = run
    with transaction(store.engine, write=True) as conn:
        stream_metrics(conn, run_id, [MetricRecord("old", 5.0, 0)], first=True)
    histogram = HistogramRecord(
        model="mlp",
        layer=0,
        name="linear0",
        lo=-1.0,
        hi=1.0,
        counts=[1, 0, 4],
        frac_near_zero=0.25,
        step=3,
    )
    result = RunResult(status="done", metrics=[MetricRecord("new", 1.0, 0)], histograms=[histogram])
    with transaction(store.engine, write=True) as conn:
        assert write_result(conn, run_id, {"status": "done"}, result, streamed=False)
    assert metric_names(store, run_id) == [("new", 0, 1.0)]
    stored = activation_histograms(store, run_ids=[run_id])
    assert list(stored["counts"].iloc[0]) == [1, 0, 4]


def test_a_missing_run_writes_nothing(run, db_samples):
    store, run_id = run
    with transaction(store.engine, write=True) as conn:
        assert not write_result(
            conn, run_id + 100, {"status": "done"}, db_samples.full_result(), streamed=False
        )
    assert queries.timings(store).empty and queries.metrics(store).empty
