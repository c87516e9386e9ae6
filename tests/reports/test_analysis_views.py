"""The Analysis page's logic and charts, its AppTest on a real file, and the terminal
output of ``runner importance`` and ``runner sweeps``."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from scratchlab.db import open_store, queries
from scratchlab.db.analysis import metric_table
from scratchlab.db.records import MetricRecord, PlannedRun, RunResult
from scratchlab.reports.importance import compute
from scratchlab.reports.management import bar, importance_lines, sweeps_table
from scratchlab.reports.views import analysis as views

APP = Path(__file__).resolve().parents[2] / "reports" / "app.py"
INITS = ("randn", "simple", "kaiming-normal")
LRS = (0.01, 0.1, 1.0)


@pytest.fixture
def db(tmp_path) -> str:
    """Two sweeps of init x lr (9 runs each): accuracy set by the init, a little by lr."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    score = {"randn": 0.2, "simple": 0.8, "kaiming-normal": 0.85}
    with open_store(url) as store:
        for name in ("first", "second"):
            sweep = store.create_sweep(name, ["runner"], {}, {})
            planned = [
                PlannedRun(
                    f"{name}-{init}-{lr}", "train", {"init": init, "matmul": "torch"}, {"lr": lr}
                )
                for lr in LRS
                for init in INITS
            ]
            ids = store.add_runs(sweep, planned)
            for run in planned:
                value = score[run.components["init"]] + 0.01 * math.log10(run.params["lr"])
                store.write_result(
                    ids[run.key],
                    RunResult("done", metrics=[MetricRecord("valid_accuracy", value, 1)]),
                )
            store.finish_sweep(sweep, "done")
    return url


def test_the_table_numbers_trials_per_sweep_and_samples_on_request(db):
    with open_store(db, read_only=True) as store:
        table = metric_table(store, "valid_accuracy")
        sample = metric_table(store, "valid_accuracy", max_runs=5)
    assert len(table) == 18 and list(table["trial"][:9]) == list(range(1, 10))
    assert list(table["trial"][9:]) == list(range(1, 10))
    dims = {d.name: d for d in table.attrs["dimensions"]}
    assert dims["init"].kind == "category" and dims["lr"].numeric and dims["matmul"].n_values == 1
    assert views.varying(table) == ["init", "lr"]
    assert len(sample) == 5 and sample.attrs["total"] == 18 and sample.attrs["sampled"]
    assert views.sample_caption(sample).startswith("A uniform sample of 5 of the 18 runs")
    assert views.sample_caption(table) is None


def test_parallel_coordinates_put_every_axis_in_0_1_and_the_metric_last(db):
    with open_store(db, read_only=True) as store:
        table = metric_table(store, "valid_accuracy")
    long = views.parallel_frame(table, ["init", "lr"])
    assert list(long.drop_duplicates("axis")["axis"]) == ["init", "lr", "valid_accuracy"]
    assert long["position"].between(0, 1).all()
    lr = long[long["axis"] == "lr"]  # 0.01..1 spans two decades: a log axis, 0.1 in the middle
    assert sorted(set(lr["position"].round(6))) == [0.0, 0.5, 1.0]


def test_best_so_far_never_gets_worse_within_a_sweep(db):
    with open_store(db, read_only=True) as store:
        table = metric_table(store, "valid_accuracy")
    for direction, step in (("maximize", 1), ("minimize", -1)):
        curve = views.best_so_far(table, direction)
        for _sweep, group in curve.groupby("sweep_id"):
            best = list(group["best"])
            assert all(step * (b - a) >= 0 for a, b in zip(best, best[1:]))


def test_importance_text_is_a_bar_per_line_within_the_width(db):
    with open_store(db, read_only=True) as store:
        result = compute(metric_table(store, "valid_accuracy"))
    for width in (60, 80, 120):
        lines = importance_lines(result, width)
        assert all(len(line) <= width for line in lines)
    lines = importance_lines(result, 80)
    assert lines[1].startswith("init") and lines[-1] == "same in every run: matmul=torch"
    assert bar(0.5, 8) == "████    " and bar(0.0, 4) == "    "


def test_sweeps_table_fits_80_columns(db):
    from rich.console import Console

    with open_store(db, read_only=True) as store:
        sweeps = queries.list_sweeps(store)
    console = Console(width=80, record=True)
    console.print(sweeps_table(sweeps, {1: ["a-long-tag-name"]}))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "9 done" in text and "a-long-tag-name" in text


def test_the_analysis_page_on_a_real_file(db, monkeypatch):
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    monkeypatch.setenv("SCRATCHLAB_DB", db)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("app_pages/analysis.py")
    at.run()
    assert not at.exception and not at.error
    titles = [str(json.loads(c.proto.spec).get("title")) for c in at.get("vega_lite_chart")]
    assert any("importance for valid_accuracy" in t and "18 runs" in t for t in titles), titles
    assert any("best valid_accuracy so far" in t for t in titles)
    assert at.multiselect(key="analysis.dims").value == ["init", "lr"]
    at.multiselect(key="analysis.dims").set_value(["lr"]).run()
    assert not at.exception
    assert at.query_params["analysis.dims"] == ["lr"] or at.query_params["analysis.dims"] == "lr"
