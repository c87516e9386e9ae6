"""The helpers the report views share (``reports/views/common.py``)."""

from __future__ import annotations

import pandas as pd

from scratchlab.reports.views import activations, common, telemetry, training


def _x_axis(chart) -> dict:
    spec = chart.to_dict()
    encoding = spec.get("encoding") or spec["layer"][0].get("encoding") or {}
    return encoding["x"]["axis"]


def test_every_chart_over_steps_ticks_whole_steps_only():
    """A run of two logged steps (the main job's CNN): the activation, near-zero and training
    charts tick 0 and 1, not 0.05, 0.10... as Vega-Lite's default axis did."""
    stats = pd.DataFrame(
        {"layer": [1, 1, 2, 2], "name": ["c1", "c1", "c2", "c2"], "step": [0.0, 1.0, 0.0, 1.0]}
    ).assign(std=[0.9, 0.8, 0.5, 0.4])
    near_zero = stats.rename(columns={"std": "frac_near_zero"})
    runs = pd.DataFrame([{"run_id": 1, "experiment": "train", "seed": 0, "init": "lsuv"}])
    metrics = pd.DataFrame(
        [{"run_id": 1, "name": "train_loss", "step": s, "value": 2.0 - s} for s in (0, 1)]
    )
    curves = training.aggregate_repeats(metrics, runs)
    charts = [
        activations.step_chart(stats, "std"),
        telemetry.near_zero_chart(telemetry.near_zero_frame(near_zero)),
        training.curve_chart(curves, "train_loss"),
    ]
    for chart in charts:
        axis = _x_axis(chart)
        assert axis["format"] == "d" and axis["tickMinStep"] == 1
        assert axis["values"] == [0, 1]


def test_a_long_run_leaves_the_step_ticks_to_vega_lite_but_whole():
    axis = common.step_axis(range(0, 500, 10)).to_dict()["axis"]
    assert "values" not in axis and axis["tickMinStep"] == 1
