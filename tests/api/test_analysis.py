"""``sl.importance`` and the Analysis charts of ``sl.charts`` on a real results file
where one param decides the metric and a component does not."""

from __future__ import annotations

import math

import pytest

import scratchlab as sl
from scratchlab.core.records import MetricRecord, PlannedRun, RunResult
from scratchlab.db import open_store
from scratchlab.reports.importance import ImportanceError

LRS = (0.001, 0.01, 0.1, 1.0)
MATMULS = ("torch", "einsum", "broadcast")


@pytest.fixture
def db(tmp_path) -> str:
    """A grid of lr x matmul x 2 seeds; accuracy rises with log(lr), matmul changes nothing;
    one failed run (status failed) with a very high value that must not count."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_store(url) as store:
        sweep = store.create_sweep("grid", ["runner"], {}, {})
        planned = [
            PlannedRun(f"{lr}-{mm}-{seed}", "train", {"matmul": mm}, {"lr": lr}, seed=seed)
            for lr in LRS
            for mm in MATMULS
            for seed in (0, 1)
        ]
        ids = store.add_runs(sweep, planned)
        for run in planned:
            value = 0.5 + 0.1 * math.log10(run.params["lr"]) + 0.001 * run.seed
            store.write_result(
                ids[run.key], RunResult("done", metrics=[MetricRecord("valid_accuracy", value, 1)])
            )
        (failed,) = store.add_runs(
            sweep, [PlannedRun("bad", "train", {"matmul": "torch"}, {"lr": 5.0})]
        ).values()
        store.write_result(
            failed, RunResult("failed", metrics=[MetricRecord("valid_accuracy", 9.0, 1)])
        )
    return url


def test_importance_finds_the_param_that_decides_the_metric(db):
    frame = sl.importance(db, "valid_accuracy")
    assert frame["name"].iloc[0] == "lr" and frame.iloc[0]["importance"] > 0.9
    assert frame.set_index("name").loc["matmul", "importance"] < 0.05
    assert frame.attrs["runs"] == len(LRS) * len(MATMULS) * 2  # the failed run is left out
    assert frame.attrs["fixed"] == {}


def test_importance_of_too_few_runs_says_why(db):
    with pytest.raises(
        ImportanceError, match=r"2 runs have a finite valid_accuracy; .* at least 4"
    ):
        sl.importance(db, "valid_accuracy", where=["lr=0.1", "matmul=torch"])


def test_the_analysis_charts_draw_the_runs(db):
    results = sl.open(db)
    spec = sl.charts.importance(results, "valid_accuracy").to_dict()
    assert "importance for valid_accuracy" in spec["title"]
    parallel = sl.charts.parallel(results, "valid_accuracy", ["lr", "matmul"]).to_dict()
    assert "across the chosen dimensions" in parallel["title"]
    assert (
        sl.charts.slices(results, "valid_accuracy").to_dict()["title"].startswith("valid_accuracy")
    )
    best = sl.charts.best_so_far(results, "valid_accuracy").to_dict()
    assert "best valid_accuracy so far" in best["title"]
    with pytest.raises(sl.charts.NoData, match="no finished run"):
        sl.charts.parallel(results, "no_such_metric")
