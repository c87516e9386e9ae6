"""The Analysis page's logic and charts (reports.views.analysis), and its AppTest on a real file."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

from streamlit.testing.v1 import AppTest

from scratchlab.db import open_store
from scratchlab.db.analysis import metric_table
from scratchlab.reports.views import analysis as views

APP = Path(__file__).resolve().parents[3] / "reports" / "app.py"


def test_parallel_coordinates_put_every_axis_in_0_1_and_the_metric_last(analysis_db):
    with open_store(analysis_db, read_only=True) as store:
        table = metric_table(store, "valid_accuracy")
    long = views.parallel_frame(table, ["init", "lr"])
    assert list(long.drop_duplicates("axis")["axis"]) == ["init", "lr", "valid_accuracy"]
    assert long["position"].between(0, 1).all()
    lr = long[long["axis"] == "lr"]  # 0.01..1 spans two decades: a log axis, 0.1 in the middle
    assert sorted(set(lr["position"].round(6))) == [0.0, 0.5, 1.0]


def test_best_so_far_never_gets_worse_within_a_sweep(analysis_db):
    with open_store(analysis_db, read_only=True) as store:
        table = metric_table(store, "valid_accuracy")
    for direction, step in (("maximize", 1), ("minimize", -1)):
        curve = views.best_so_far(table, direction)
        for _sweep, group in curve.groupby("sweep_id"):
            best = list(group["best"])
            assert all(step * (b - a) >= 0 for a, b in itertools.pairwise(best))


def test_the_analysis_page_on_a_real_file(analysis_db, monkeypatch):
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    monkeypatch.setenv("SCRATCHLAB_DB", analysis_db)
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


def test_a_slice_panel_names_every_value_of_a_category(tmp_path):
    """The main job's eight inits in one panel: wide enough for a slanted label per init, and
    told never to leave one out (Vega-Lite drops overlapping labels by default, which left two
    of eight named in a 220-pixel panel)."""
    from scratchlab.core.records import MetricRecord, PlannedRun, RunResult

    inits = ["randn", "simple", "kaiming-normal", "kaiming-uniform"]
    inits += ["torch-kaiming-normal", "torch-default", "xavier", "lsuv"]
    url = f"sqlite:///{tmp_path / 'inits.db'}"
    with open_store(url) as store:
        sweep = store.create_sweep("inits", ["runner"], {}, {})
        planned = [
            PlannedRun(f"{init}-{m}", "train", {"init": init, "matmul": m}, {})
            for init in inits
            for m in ("torch", "einsum")
        ]
        ids = store.add_runs(sweep, planned)
        for i, run in enumerate(planned):
            metrics = [MetricRecord("valid_accuracy", 0.5 + i / 100, 1)]
            store.write_result(ids[run.key], RunResult("done", metrics=metrics))
        table = metric_table(store, "valid_accuracy")
    spec = views.slice_chart(table, ["init", "matmul"]).to_dict()
    init_panel, matmul_panel = spec["concat"]
    axis = init_panel["layer"][0]["encoding"]["x"]["axis"]
    assert axis["labelOverlap"] is False
    assert init_panel["width"] >= views.SLICE_STEP_PX * len(inits)
    assert matmul_panel["width"] == views.SLICE_WIDTH_PX  # two values: the usual width
