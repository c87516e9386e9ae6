"""``sl.charts``: a notebook's charts are the app's, with the app's grouping of repeats."""

from __future__ import annotations

import pandas as pd
import pytest

import scratchlab as sl
from scratchlab.core.records import MetricRecord, PlannedRun, RunResult
from scratchlab.db import open_store, queries
from scratchlab.db.filters import RunFilter
from scratchlab.reports import lookups

#: two configurations (the init) x two repeats; each run ends with its own final
#: values, which a label built from final metrics would tell apart
REPEATS = {
    ("kaiming-normal", 0): (0.95, 0.10),
    ("kaiming-normal", 1): (0.55, 0.30),
    ("randn", 0): (0.15, 2.0),
    ("randn", 1): (0.45, 0.02),
}


@pytest.fixture
def repeats_db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_store(url) as store:
        sweep = store.create_sweep("repeat", ["runner", "sweep", "--repeat", "2"], {}, {})
        planned = [
            PlannedRun(
                key=f"{init}-{repeat}",
                experiment="train",
                components={"init": init},
                params={"lr": 0.2},
                seed=repeat,
                repeat=repeat,
            )
            for init, repeat in REPEATS
        ]
        ids = store.add_runs(sweep, planned)
        for (init, repeat), (accuracy, loss) in REPEATS.items():
            metrics = [MetricRecord("epoch_time_s", 0.2 + 0.01 * repeat, s) for s in (10, 20)]
            metrics += [MetricRecord("valid_accuracy", accuracy * s / 20, s) for s in (10, 20)]
            metrics += [MetricRecord("train_loss", loss * (20 - s + 1), s) for s in range(21)]
            store.write_result(ids[f"{init}-{repeat}"], RunResult("done", metrics=metrics))
        store.finish_sweep(sweep, "done")
    return url


def chart_rows(chart) -> pd.DataFrame:
    """The rows the chart draws (Altair lifts the layers' shared data to the chart)."""
    return chart.data if isinstance(chart.data, pd.DataFrame) else chart.layer[1].data


def test_curves_groups_repeats_as_the_training_page_does(repeats_db):
    with sl.open(repeats_db) as results:
        rows = chart_rows(sl.charts.curves(results, "valid_accuracy", experiment="train"))
        store = results.store
        scope = RunFilter(experiments=("train",))
        ids = [int(i) for i in queries.list_runs(store, scope)["run_id"]]
        page, _ = lookups.training_curves(store, scope, ids, ["valid_accuracy"], 400)[
            "valid_accuracy"
        ]
    assert sorted(rows["config"].unique()) == ["init=kaiming-normal", "init=randn"]
    assert (rows["runs"] == 2).all()
    assert sorted(rows["config"].unique()) == sorted(page["config"].unique())


def test_curves_bands_stay_inside_what_the_metric_can_be_and_say_two_runs_are_too_few(
    repeats_db,
):
    with sl.open(repeats_db) as results:
        accuracy = sl.charts.curves(results, "valid_accuracy", clip=False)
        loss = sl.charts.curves(results, "train_loss", clip=False)
    rows = chart_rows(accuracy)
    assert rows["lo"].min() >= 0 and rows["hi"].max() <= 1
    assert chart_rows(loss)["lo"].min() >= 0
    # the axis is the lines' range widened by the bands at most half of it each way
    means = chart_rows(loss)["mean"]
    low, high = loss.to_dict()["layer"][1]["encoding"]["y"]["scale"]["domain"]
    assert low >= max(0.0, means.min() - 0.5 * (means.max() - means.min()))
    assert high <= means.max() + 0.5 * (means.max() - means.min())
    subtitle = " ".join(accuracy.to_dict()["title"]["subtitle"])
    assert "2 runs" in subtitle and "too few" in subtitle and "range of the runs" in subtitle
    # two runs: the band is their range, not a t interval 12.7 standard errors wide
    last = rows[(rows["config"] == "init=kaiming-normal") & (rows["step"] == rows["step"].max())]
    assert (float(last["lo"].iloc[0]), float(last["hi"].iloc[0])) == pytest.approx((0.55, 0.95))
