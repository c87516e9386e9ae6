"""Training page logic: configurations, repeats as mean with a confidence band, final metrics."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from scratchlab.reports.views import training as views

#: Student's t 97.5% quantile at 2 degrees of freedom, from a table (scipy.stats, which the
#: page itself avoids, costs every test worker 0.65 s to import at collection)
T_975_DF2 = 4.302652729749462


def test_configurations_are_named_by_what_differs_not_by_seed(training_frames):
    _, _, runs = training_frames
    labels = views.config_labels(runs)
    assert list(labels["config"]) == ["lr=0.1"] * 3 + ["lr=0.5"] * 3
    assert list(views.config_labels(runs[runs["lr"] == 0.1])["config"]) == ["train"] * 3


def test_repeats_become_a_mean_with_a_student_t_band(training_frames):
    metrics, _, runs = training_frames
    curves = views.aggregate_repeats(metrics, runs)
    first = curves[(curves["config"] == "lr=0.1") & (curves["step"] == 0)].iloc[0]
    values = [2.0 * f for f in (0.9, 1.0, 1.1)]  # the three repeats' losses at step 0
    mean = sum(values) / 3
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    half = T_975_DF2 * sd / math.sqrt(3)
    assert first["runs"] == 3 and first["mean"] == pytest.approx(mean)
    assert (first["lo"], first["hi"]) == pytest.approx((mean - half, mean + half))


def test_a_single_run_gets_no_band(training_frames):
    metrics, _, runs = training_frames
    one = runs[runs["run_id"] == 1]
    curves = views.aggregate_repeats(metrics[metrics["run_id"] == 1], one)
    assert (curves["lo"] == curves["mean"]).all() and (curves["hi"] == curves["mean"]).all()


def test_curve_chart_layers_a_band_under_the_mean_line(training_frames):
    metrics, _, runs = training_frames
    spec = views.curve_chart(
        views.aggregate_repeats(metrics, runs), "train_loss", log=True
    ).to_dict()
    band, line = spec["layer"]
    assert band["mark"]["type"] == "area" and band["encoding"]["y2"]["field"] == "hi"
    assert line["mark"]["type"] == "line" and line["encoding"]["y"]["scale"]["type"] == "log"


def test_final_metrics_per_run_and_per_configuration(training_frames):
    _, final, runs = training_frames
    table = views.final_table(final, runs)
    assert list(table.columns) == ["run_id", "config", "accuracy", "samples_per_s"]
    summary = views.final_summary(final, runs).set_index("config")
    assert summary.loc["lr=0.5", "accuracy mean"] == pytest.approx(0.96)
    assert summary.loc["lr=0.5", "accuracy std"] == pytest.approx(0.01)
    assert summary.loc["lr=0.1", "runs"] == 3


def test_a_nan_final_value_stays_visible(training_frames):
    _, final, runs = training_frames
    final = final.copy()
    final.loc[(final["run_id"] == 1) & (final["name"] == "accuracy"), "value"] = float("nan")
    table = views.final_table(final, runs)
    assert math.isnan(table.loc[table["run_id"] == 1, "accuracy"].iloc[0])


def test_default_curves_are_losses_and_accuracies():
    assert views.default_curves(
        ["epoch_time_s", "train_loss", "valid_accuracy", "samples_per_s"]
    ) == ["train_loss", "valid_accuracy"]
    assert views.default_curves(["a", "b", "c"]) == ["a", "b"]


def _spec(chart) -> dict:
    return chart.to_dict()


def test_log_axis_band_stays_positive_and_every_configuration_is_in_the_legend(training_frames):
    metrics, _, runs = training_frames
    metrics = metrics.copy()
    metrics.loc[
        metrics["step"] == 9, "value"
    ] *= -40  # a repeat that dips below zero widens the band past it
    curves = views.aggregate_repeats(metrics, runs)
    assert (curves["lo"] <= 0).any()
    spec = _spec(views.curve_chart(curves, "train_loss", log=True))
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    assert (data["lo"] > 0).all() and (data["mean"] > 0).all()
    encoding = spec["layer"][1]["encoding"]
    assert encoding["y"]["scale"]["type"] == "log"
    assert encoding["color"]["legend"]["symbolLimit"] == 0  # no "8 of 28": every entry shown
    assert encoding["x"]["axis"]["format"] == "d"


def test_two_varying_settings_are_colour_and_dash(training_frames):
    _, _, runs = training_frames
    runs = runs.copy()
    runs["init"] = ["randn", "kaiming", "xavier"] * 2
    labels = views.config_labels(runs)
    assert set(labels["colour"]) == {"init=randn", "init=kaiming", "init=xavier"}
    assert set(labels["dash"]) == {"lr=0.1", "lr=0.5"}


def test_clip_leaves_out_a_diverging_curve():
    values = [2.3, 2.0, 1.5, 1.2, 1.0, 0.9, 2.2, 1.9, 1.4, 1.1, 200.0, 150.0]
    lo, hi = views.y_range(values)
    assert hi < 20 and lo <= 0.9
    assert views.y_range([1.0, 1.1, 1.2, 1.3, 1.4]) is None


def test_epoch_metrics_are_drawn_over_epochs():
    metrics = pd.DataFrame(
        [
            {"run_id": 1, "name": "epoch_time_s", "step": 63, "value": 1.0},
            {"run_id": 1, "name": "epoch_time_s", "step": 126, "value": 1.0},
            {"run_id": 1, "name": "valid_loss", "step": 63, "value": 0.5},
            {"run_id": 1, "name": "valid_loss", "step": 126, "value": 0.4},
            {"run_id": 1, "name": "train_loss", "step": 63, "value": 0.6},
            {"run_id": 1, "name": "train_loss", "step": 64, "value": 0.6},
        ]
    )
    epochs = views.epoch_steps(metrics)
    assert epochs == {1: [63, 126]}
    assert views.per_epoch(metrics, "valid_loss", epochs) and not views.per_epoch(
        metrics, "train_loss", epochs
    )
    assert list(views.as_epochs(metrics[metrics["name"] == "valid_loss"], epochs)["step"]) == [1, 2]
