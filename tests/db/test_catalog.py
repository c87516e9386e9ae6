"""What a filter widget can offer and where a page's data is, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from scratchlab.core.records import MetricRecord, PlannedRun, RunResult, StatRecord, TimingRecord
from scratchlab.db import InvalidValueError, catalog, open_store
from scratchlab.db.filters import parse_where


def _planned(key, experiment, matmul, lr):
    params = {"shapes": ["5x784x10"], "exact": True} if lr is None else {"lr": lr, "exact": lr < 1}
    return PlannedRun(key, experiment, {"matmul": matmul}, params)


@pytest.fixture
def store(db_url):
    """Sweep 1: three train runs and one matmul run with a timing; sweep 2: one train run."""
    with open_store(db_url) as opened:
        first = opened.create_sweep("first", ["runner"], {}, {})
        runs = [
            _planned("a", "train", "torch", 0.1),
            _planned("b", "train", "einsum", 0.5),
            _planned("c", "train", "python", 1.0),
            _planned("d", "matmul", "torch", None),
        ]
        ids = opened.add_runs(first, runs)
        timing = TimingRecord("mm", [1e-3], 1e-3, 0.0, 1e-3, 1e-3, 1e-3)
        opened.write_result(ids["d"], RunResult("done", timings=[timing]))
        opened.write_result(ids["a"], RunResult("done", timings=[timing]))
        opened.add_runs(
            opened.create_sweep("second", [], {}, {}), [_planned("z", "train", "torch", 2.0)]
        )
        yield opened


def test_param_values_are_distinct_and_scoped(store):
    values = catalog.param_values(store, sweep_ids=[1], experiments=["train"])
    by_name = values.groupby("name")["value"].apply(list).to_dict()
    assert by_name["lr"] == [0.1, 0.5, 1.0]
    assert by_name["matmul"] == ["einsum", "python", "torch"]
    assert sorted(by_name["exact"]) == [False, True]
    assert "shapes" not in by_name  # only matmul runs have shapes
    assert 2.0 in list(catalog.param_values(store)["value"])


def test_experiment_names_and_data_coverage(db_url):
    """Which sweep/experiment pairs hold each kind of data a report page plots."""
    with open_store(db_url) as opened:
        one = opened.create_sweep("one", ["runner"], {}, {})
        ids = opened.add_runs(
            one,
            [
                _planned("t", "train", "torch", 0.1),
                _planned("m", "matmul", "torch", None),
                _planned("p", "matmul", "einsum", None),
            ],
        )
        opened.write_result(
            ids["t"], RunResult("done", metrics=[MetricRecord("train_loss", 1.0, 0)])
        )
        timing = TimingRecord("mm", [1e-3], 1e-3, 0.0, 1e-3, 1e-3, 1e-3)
        opened.write_result(
            ids["m"], RunResult("done", timings=[timing], metrics=[MetricRecord("gflops", 7.0)])
        )
        two = opened.create_sweep("two", ["runner"], {}, {})
        ids = opened.add_runs(two, [_planned("s", "init-stats", "torch", None)])
        stat = StatRecord("deep", 1, "linear1", 0.0, 1.0, -1.0, 1.0, 0.0, 0.0)
        opened.write_result(ids["s"], RunResult("done", stats=[stat]))

        assert catalog.experiment_names(opened) == ["init-stats", "matmul", "train"]
        assert catalog.experiment_names(opened, sweep_ids=[one]) == ["matmul", "train"]

        def pairs(kind, **kwargs):
            frame = catalog.data_coverage(opened, kind, **kwargs)
            return [tuple(row) for row in frame.itertuples(index=False)]

        assert pairs("timings") == [(one, "matmul")]
        assert pairs("curves") == [(one, "train")]  # the step-less gflops is not a curve
        assert pairs("stats") == [(two, "init-stats")]
        assert pairs("stats", sweep_ids=[one]) == []
        with pytest.raises(InvalidValueError, match="unknown kind of data"):
            catalog.data_coverage(opened, "pictures")


def test_every_catalog_query_takes_the_filter(store):
    flt = parse_where(["matmul=torch", "status=done"])  # runs a and d
    assert catalog.experiment_names(store, flt) == ["matmul", "train"]
    assert set(catalog.data_coverage(store, "timings", flt)["experiment"]) == {"matmul", "train"}
    assert set(catalog.param_values(store, flt).query("name == 'matmul'")["value"]) == {"torch"}
