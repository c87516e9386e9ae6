"""The app's Telemetry page through AppTest, on a real SQLite file written by the store:
the near-zero chart and table, and one "colorful dimension" heat map per layer."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from scratchlab.core.records import HistogramRecord, MetricRecord, PlannedRun, RunResult
from scratchlab.db import open_store
from scratchlab.reports.views import telemetry as views

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

APP = Path(__file__).resolve().parents[2] / "reports" / "app.py"
LAYERS = ("conv1", "conv2")
STEPS = 5


def histogram(layer: int, name: str, step: int) -> HistogramRecord:
    # a spike at zero that spreads out as training goes on
    counts = [0] * 40
    counts[20] = 100 - 10 * step
    counts[25] = 10 * step
    return HistogramRecord(
        model="cnn",
        layer=layer,
        name=name,
        lo=-7.0,
        hi=7.0,
        counts=counts,
        frac_near_zero=(100 - 10 * step) / 100,
        step=step,
    )


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_store(url) as store:
        sweep_id = store.create_sweep("telemetry", ["runner", "sweep"], {}, {})
        planned = PlannedRun(
            key="k", experiment="telemetry", components={"init": "kaiming-normal"}, params={}
        )
        run_id = store.add_runs(sweep_id, [planned])["k"]
        records = [
            histogram(i, name, s) for i, name in enumerate(LAYERS, start=2) for s in range(STEPS)
        ]
        store.write_result(run_id, RunResult(status="done", histograms=records))
        store.finish_sweep(sweep_id, "done")
        from scratchlab.db.histograms import activation_histograms

        table = activation_histograms(store, run_ids=run_id)
    monkeypatch.setenv("SCRATCHLAB_DB", url)
    return table


def test_views_build_the_heat_map_and_the_near_zero_series(database):
    assert views.layer_names(database) == list(LAYERS)
    heat = views.heatmap_frame(database, "conv1")
    assert len(heat) == STEPS * 40
    spike = heat[(heat["step"] == 0) & (heat["count"] > 0)]
    assert list(spike["value"]) == [pytest.approx(-7 + 20.5 * 0.35)]  # the bin just above zero
    final = views.final_fractions(database)
    assert (
        list(final["name"]) == list(LAYERS)
        and list(final["frac_near_zero"]) == [pytest.approx(0.6)] * 2
    )


def test_thinning_keeps_first_and_last_step():
    assert views.thinned_steps(range(1000), 5) == [0, 250, 500, 749, 999]
    assert views.thinned_steps([3, 1, 2], 5) == [1, 2, 3]


def test_page_draws_near_zero_and_a_heat_map_per_layer(database):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/telemetry.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Telemetry"
    charts = list(at.get("vega_lite_chart"))
    assert len(charts) == 1 + len(LAYERS)
    table = at.dataframe[0].value
    assert list(table["name"]) == list(LAYERS)


@pytest.fixture
def two_runs(tmp_path, monkeypatch):
    """Telemetry runs of randn (diverged: accuracy at chance) and kaiming-normal (trained),
    ReLU activations recorded on [-7, 7]: no count below zero. Their run ids."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_store(url) as store:
        sweep_id = store.create_sweep("telemetry", ["runner", "sweep"], {}, {})
        ids = store.add_runs(
            sweep_id,
            [
                PlannedRun(
                    key=init,
                    experiment="telemetry",
                    components={"init": init, "activation": "relu"},
                    params={},
                )
                for init in ("randn", "kaiming-normal")
            ],
        )
        for init, accuracy in (("randn", 0.098), ("kaiming-normal", 0.91)):
            records = [histogram(2, "conv1", s) for s in range(STEPS)]
            metrics = [MetricRecord("valid_accuracy", accuracy, 10)]
            store.write_result(
                ids[init], RunResult(status="done", histograms=records, metrics=metrics)
            )
        store.finish_sweep(sweep_id, "done")
    monkeypatch.setenv("SCRATCHLAB_DB", url)
    return ids


def test_the_run_picker_names_components_and_opens_on_a_trained_run(two_runs):
    """Issue 24 item 14: the picker listed bare ids and opened on the first run, the
    diverged randn one; now each run is named by its init and the trained one is shown."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/telemetry.py").run()
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="telemetry.run")
    assert picker.value == two_runs["kaiming-normal"]
    assert sorted(picker.options) == sorted(
        [f"#{two_runs['randn']} randn", f"#{two_runs['kaiming-normal']} kaiming-normal"]
    )


def test_the_heat_map_spans_only_the_bins_that_hold_activations(database):
    """Issue 24 item 14: [-7, 7] left the lower half of every ReLU panel empty; the chart
    now spans the lowest to the highest bin that ever holds a count."""
    heat = views.heatmap_frame(database, "conv1")
    shown = views.occupied_bins(heat)
    assert shown["value"].min() == pytest.approx(-7 + 20.5 * 0.35)  # the bin just above zero
    assert shown["value"].max() == pytest.approx(-7 + 25.5 * 0.35)
    assert (heat["value"] < 0).any() and not (shown["value"] < 0).any()
