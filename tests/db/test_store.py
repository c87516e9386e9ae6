"""What goes in through the write path comes back out of the read queries, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scratchlab.core.records import MetricRecord, RunResult, StatRecord
from scratchlab.db import (
    DatabaseError,
    InvalidValueError,
    ReadOnlyDatabaseError,
    RunNotFoundError,
    SweepNotFoundError,
    open_store,
    queries,
)
from scratchlab.db.models import metadata
from scratchlab.db.schema import VERSION_TABLE

ENVIRONMENT = {
    "python": "3.11.7",
    "torch": "2.13.0",
    "devices": ["cpu"],
    "git": None,
    "nan": math.nan,
}


def same(a: float, b: float) -> bool:
    """Equal, counting NaN as equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.fixture
def store(db_url):
    with open_store(db_url) as opened:
        yield opened


@pytest.fixture(autouse=True)
def _builders(db_samples):
    # the sample builders as module names, for readable tests
    global planned_run, full_result, T0
    planned_run, full_result, T0 = db_samples.planned_run, db_samples.full_result, db_samples.T0


@pytest.fixture
def written(store):
    """A sweep with two runs, the first with every kind of result."""
    sweep_id = store.create_sweep(
        "demo", ["runner", "sweep", "--plugins", "matmul"], {"plugins": ["matmul"]}, ENVIRONMENT
    )
    ids = store.add_runs(sweep_id, [planned_run("k0"), planned_run("k1", matmul="einsum", lr=0.05)])
    store.mark_running([ids["k0"]])
    store.write_result(ids["k0"], full_result())
    return sweep_id, ids


def test_schema_created_by_migrations_matches_the_models(store):
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_sweep_round_trip(store, written):
    sweep_id, _ = written
    sweep = store.get_sweep(sweep_id)
    assert sweep["name"] == "demo"
    assert sweep["argv"] == ["runner", "sweep", "--plugins", "matmul"]
    assert sweep["spec"] == {"plugins": ["matmul"]}
    assert math.isnan(sweep["environment"].pop("nan"))
    assert sweep["environment"] == {k: v for k, v in ENVIRONMENT.items() if k != "nan"}
    assert sweep["status"] == "running" and sweep["finished_at"] is None
    assert sweep["started_at"].tzinfo == UTC
    store.finish_sweep(sweep_id, "done")
    finished = store.get_sweep(sweep_id)
    assert finished["status"] == "done" and finished["finished_at"] >= finished["started_at"]


def test_runs_and_params_round_trip(store, written):
    sweep_id, ids = written
    runs = queries.list_runs(store, sweep_ids=[sweep_id])
    assert list(runs["run_id"]) == [ids["k0"], ids["k1"]]
    first = runs.iloc[0]
    assert (
        first["key"],
        first["experiment"],
        first["status"],
        first["device"],
        first["dtype"],
    ) == ("k0", "train", "done", "cpu", "float64")
    assert (first["seed"], first["repeat"]) == (7, 1)
    assert first["started_at"] == T0 and first["duration_s"] == pytest.approx(2.5)
    assert runs.iloc[1]["status"] == "pending"
    # component choices and every param type come back as written
    assert list(runs["matmul"]) == ["torch", "einsum"]
    assert list(runs["lr"]) == [0.5, 0.05]
    assert runs["bs"].dtype.kind == "i" and list(runs["bs"]) == [64, 64]
    assert runs.iloc[0]["leaky-relu.slope"] == 0.01
    assert runs.iloc[0]["shapes"] == ["5x784x10", "64x784x50"]
    assert runs.iloc[0]["bias"] is True
    assert runs.iloc[0]["note"] is None
    assert runs.iloc[0]["name"] == "plain text"
    summary = queries.run_summary(store, ids["k0"])
    assert summary["components"] == {"matmul": "torch", "activation": "leaky-relu"}
    assert summary["component_versions"] == {"matmul": "0.1.0+1a2b3c", "activation": "0.1.0+4d5e6f"}
    assert summary["params"] == planned_run("k0").params


def test_nan_and_infinities_round_trip_in_every_float_column(store, written):
    _, ids = written
    expected = full_result()
    timings = queries.timings(store, run_ids=[ids["k0"]]).sort_values("timing_id")
    forward = timings.iloc[0]
    for column in ("median", "iqr", "mean", "min", "max", "flops"):
        assert same(forward[column], getattr(expected.timings[0], column)), column
    assert (
        forward["label"],
        forward["shape"],
        forward["n"],
        forward["threads"],
        forward["number_per_run"],
    ) == ("forward", "5x784x10", 5, 4, 10)
    assert forward["matmul"] == "torch" and forward["activation"] == "leaky-relu"
    replicates = queries.timing_replicates(store, list(timings["timing_id"]))
    first = replicates[replicates["timing_id"] == forward["timing_id"]]
    assert list(first["replicate"]) == [0, 1, 2, 3, 4]
    assert all(
        same(a, b) for a, b in zip(first["seconds"], expected.timings[0].replicates, strict=True)
    )
    backward = timings.iloc[1]
    assert (
        math.isnan(backward["flops"])
        and pd.isna(backward["shape"])
        and pd.isna(backward["threads"])
    )

    stats = queries.activation_stats(store, run_ids=[ids["k0"]]).sort_values("model")
    assert list(stats["model"]) == ["deep", "mlp"]
    deep = stats.iloc[0]
    for column in ("mean", "std", "min", "max", "frac_zero", "frac_nonfinite"):
        assert same(deep[column], getattr(expected.stats[1], column)), column
    assert deep["step"] == 3 and pd.isna(stats.iloc[1]["step"])

    history = queries.metrics(store, run_ids=[ids["k0"]])
    loss = history[history["name"] == "train_loss"]
    assert list(loss["step"]) == [0, 1, 2]
    assert all(same(a, b) for a, b in zip(loss["value"], [2.3, math.nan, math.inf], strict=True))
    assert history[history["name"] == "valid_acc"]["value"].iloc[0] == -math.inf


def test_infinite_and_nan_params_round_trip_and_only_numbers_match_ranges(store):
    sweep_id = store.create_sweep("p", [], {}, {})
    ids = store.add_runs(
        sweep_id,
        [planned_run("a", lr=math.inf), planned_run("b", lr=math.nan), planned_run("c", lr=0.2)],
    )
    runs = queries.list_runs(store).set_index("key")
    assert runs.loc["a", "lr"] == math.inf and math.isnan(runs.loc["b", "lr"])
    above = queries.list_runs(store, params={"lr": (0.1, None)})
    assert set(above["key"]) == {"a", "c"}  # NaN never matches a range
    assert queries.count_runs(store, params={"lr": math.nan}) == 1
    assert ids == {"a": ids["a"], "b": ids["b"], "c": ids["c"]}


def test_write_result_replaces_earlier_results(store, written):
    _, ids = written
    store.write_result(ids["k0"], full_result(scale=2.0))
    timings = queries.timings(store, run_ids=[ids["k0"]])
    assert len(timings) == 2 and timings.iloc[0]["median"] == pytest.approx(3e-3)
    assert len(queries.timing_replicates(store, list(timings["timing_id"]))) == 7
    assert len(queries.activation_stats(store, run_ids=[ids["k0"]])) == 2
    history = queries.metrics(store, run_ids=[ids["k0"]])
    assert len(history) == 4
    assert history[history["name"] == "train_loss"]["value"].iloc[0] == pytest.approx(4.6)


def test_a_failing_write_leaves_the_run_as_it_was(store, written):
    _, ids = written
    broken = RunResult(
        status="failed",
        reason="should not be stored",
        metrics=[
            MetricRecord("ok", 1.0, 0),
            MetricRecord(None, 2.0, 1),
        ],  # NOT NULL name: the insert fails
        stats=[StatRecord("m", 0, "l", 0, 1, 0, 1, 0, 0)],
    )
    with pytest.raises(DatabaseError) as caught:
        store.write_result(ids["k0"], broken)
    assert "\n" not in str(caught.value)
    summary = queries.run_summary(store, ids["k0"])
    assert summary["status"] == "done" and summary["reason"] is None
    assert len(summary["timings"]) == 2  # the earlier results were not deleted either
    assert set(queries.metrics(store, run_ids=[ids["k0"]])["name"]) == {"train_loss", "valid_acc"}


def test_add_runs_is_idempotent_per_key(store, written):
    sweep_id, ids = written
    again = store.add_runs(sweep_id, [planned_run("k1"), planned_run("k2"), planned_run("k2")])
    assert again["k1"] == ids["k1"]
    assert set(again) == {"k1", "k2"}
    assert [r["key"] for r in store.sweep_runs(sweep_id)] == ["k0", "k1", "k2"]
    # the stored params of k1 were not overwritten by the second plan
    assert (
        queries.list_runs(store, sweep_ids=[sweep_id]).set_index("key").loc["k1", "matmul"]
        == "einsum"
    )


def test_statuses_times_and_resume_listing(store, written):
    sweep_id, ids = written
    store.mark_status([ids["k1"]], "skipped", reason="python: too large")
    rows = {r["key"]: r for r in store.sweep_runs(sweep_id)}
    assert rows["k1"] == {
        "run_id": ids["k1"],
        "key": "k1",
        "experiment": "train",
        "status": "skipped",
    }
    summary = queries.run_summary(store, ids["k1"])
    assert summary["reason"] == "python: too large" and summary["finished_at"] is not None
    store.mark_status([ids["k1"]], "pending")
    assert queries.run_summary(store, ids["k1"])["finished_at"] is None


def test_unknown_ids_and_statuses_are_one_line_errors_and_change_nothing(store, written):
    sweep_id, ids = written
    with pytest.raises(SweepNotFoundError, match="no sweep 999"):
        store.get_sweep(999)
    with pytest.raises(SweepNotFoundError):
        store.add_runs(999, [planned_run("x")])
    with pytest.raises(RunNotFoundError, match="no run 999"):
        store.mark_status([ids["k1"], 999], "failed")
    assert store.sweep_runs(sweep_id)[1]["status"] == "pending"  # the valid id was rolled back too
    with pytest.raises(RunNotFoundError):
        store.write_result(999, full_result())
    with pytest.raises(RunNotFoundError):
        queries.run_summary(store, 999)
    with pytest.raises(InvalidValueError, match="unknown run status 'finished'"):
        store.mark_status([ids["k1"]], "finished")
    with pytest.raises(InvalidValueError, match="unknown sweep status"):
        store.finish_sweep(sweep_id, "ok")
    with pytest.raises(InvalidValueError, match="cannot store a object"):
        store.add_runs(sweep_id, [planned_run("bad", weird=object())])
    assert len(store.sweep_runs(sweep_id)) == 2


def test_times_are_utc_whatever_zone_they_were_given_in(store, written):
    from datetime import timedelta, timezone

    _, ids = written
    local = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    store.write_result(
        ids["k1"], RunResult("done", started_at=local, finished_at=local + timedelta(seconds=1))
    )
    summary = queries.run_summary(store, ids["k1"])
    assert summary["started_at"] == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert summary["started_at"].utcoffset() == timedelta(0)
    assert summary["duration_s"] == pytest.approx(1.0)


def test_a_read_only_store_refuses_writes_and_the_backend_enforces_it(db_url, written):
    _, ids = written
    with open_store(db_url, read_only=True) as reader:
        assert queries.count_runs(reader) == 2
        with pytest.raises(ReadOnlyDatabaseError):
            reader.mark_status([ids["k1"]], "failed")
        with pytest.raises(Exception, match=r"(?i)read.?only"), reader.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM metrics")
    with open_store(db_url, read_only=True) as reader:
        assert len(queries.metrics(reader, run_ids=[ids["k0"]])) == 4


def test_the_heartbeat_thread_refreshes_the_owners_beat_and_stops_with_the_block(tmp_path):
    import time

    from scratchlab.db import open_store
    from scratchlab.db.ownership import Heartbeat, Owner, beat

    me = Owner.this_process()
    with open_store(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        sweep_id = store.create_sweep("s", [], {}, {}, owner=me)

        def last_beat():
            with store.engine.connect() as conn:
                return conn.exec_driver_sql("SELECT heartbeat_at FROM sweeps").scalar_one()

        first = last_beat()
        with Heartbeat(store, sweep_id, me, interval=0.05) as heartbeat:
            deadline = time.monotonic() + 30
            while last_beat() == first and time.monotonic() < deadline:
                time.sleep(0.05)
        assert last_beat() > first
        assert not heartbeat._thread.is_alive()
        # only the owner beats: another process's beat changes nothing
        assert beat(store, sweep_id, Owner(me.host, me.pid + 1)) is False
        assert beat(store, sweep_id, me) is True
