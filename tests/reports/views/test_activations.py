"""Activations page logic: per-layer profiles, the first non-finite layer, per-step charts."""

from __future__ import annotations

import pytest

from scratchlab.reports.views import activations as views


def test_profiles_average_repeats_per_combo_and_layer(stats_frames):
    stats, runs = stats_frames
    final = views.final_stats(views.label_stats(stats, runs))
    # per-step rows of run 1 are not "final": its step-less rows are
    assert final["step"].isna().all()
    profile = views.layer_profile(final[final["model"] == "deep"])
    kaiming = profile[profile["combo"] == "kaiming-normal × relu"]
    assert list(kaiming["layer"]) == list(range(10)) and set(kaiming["runs"]) == {2}
    # runs 1 and 3 (a repeat) have std 1.01 and 1.03: the profile shows their mean
    assert kaiming["std"].iloc[0] == pytest.approx(1.02)
    assert views.model_names(final) == ["mlp", "deep", "conv"]


def test_first_non_finite_layer_per_run_and_model(stats_frames):
    stats, runs = stats_frames
    table = views.first_nonfinite(views.final_stats(views.label_stats(stats, runs)))
    broken = table[table["first_nonfinite"].notna()]
    assert broken[["run_id", "model", "first_nonfinite", "layer_name"]].to_dict("records") == [
        {"run_id": 2, "model": "deep", "first_nonfinite": 7, "layer_name": "deep.7"}
    ]
    assert len(table) == 9  # three runs x three models


def test_final_stats_takes_the_last_step_when_a_run_only_has_steps(stats_frames):
    stats, _ = stats_frames
    only_steps = stats[stats["step"].notna()]
    final = views.final_stats(only_steps)
    assert set(final["step"]) == {40} and len(final) == 2


def test_std_chart_uses_a_log_axis_and_drops_what_it_cannot_draw(stats_frames):
    stats, runs = stats_frames
    profile = views.layer_profile(views.final_stats(views.label_stats(stats, runs)))
    deep = profile[profile["model"] == "deep"]
    spec = views.layer_chart(deep, "std").to_dict()
    assert spec["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"
    drawn = [r for r in next(iter(spec["datasets"].values())) if r["mark"] == "line"]
    # randn x relu layers 7-9 are infinite: left out of the line, not plotted at 0
    assert len(drawn) == len(deep) - 3
    mean = views.layer_chart(deep, "mean").to_dict()
    assert mean["layer"][0]["encoding"]["y"]["scale"]["type"] == "symlog"


def test_step_chart_draws_one_line_per_layer_over_steps(stats_frames):
    stats, runs = stats_frames
    stepped = views.step_stats(views.label_stats(stats, runs))
    spec = views.step_chart(stepped[stepped["run_id"] == 1]).to_dict()
    assert (
        spec["encoding"]["x"]["field"] == "step" and spec["encoding"]["color"]["field"] == "layer"
    )
    assert len(next(iter(spec["datasets"].values()))) == 10


def test_opens_on_deep_and_the_mean_is_on_a_symmetric_log_axis(stats_frames):
    stats, runs = stats_frames
    final = views.final_stats(views.label_stats(stats, runs))
    assert views.default_model(views.model_names(final)) == "deep"
    assert views.default_model(["mlp", "conv"]) == "mlp"
    profile = views.layer_profile(final[final["model"] == "deep"])
    spec = views.layer_chart(profile, "mean").to_dict()
    assert spec["layer"][0]["encoding"]["y"]["scale"]["type"] == "symlog"
    # lines can be told apart: a hover highlight and mouse zoom
    kinds = {
        p["select"]["type"] if isinstance(p["select"], dict) else p["select"]
        for p in spec["params"]
    }
    assert kinds == {"point", "interval"} and "condition" in spec["layer"][0]["encoding"]["opacity"]


def test_last_layer_std_ranks_the_inits_that_keep_it_near_one(stats_frames):
    stats, runs = stats_frames
    final = views.final_stats(views.label_stats(stats, runs))
    table = views.last_layer(views.layer_profile(final[final["model"] == "deep"]), "std")
    assert list(table["combo"]) == ["kaiming-normal × relu", "randn × relu"]
    assert table["std"].iloc[0] == pytest.approx(1.02) and table["layer"].iloc[0] == 9


def test_std_chart_opens_on_the_informative_range_and_marks_what_leaves_it(stats_frames):
    """Issue 24 item 13: an exploding init made the log axis span 40 decades and the good
    inits one line at 1; the chart now opens on the range of the lines that stay near 1,
    marks where the others leave it, and has one tick format."""
    stats, runs = stats_frames
    profile = views.layer_profile(views.final_stats(views.label_stats(stats, runs)))
    deep = profile[profile["model"] == "deep"]
    spec = views.layer_chart(deep, "std").to_dict()
    y = spec["layer"][0]["encoding"]["y"]
    low, high = y["scale"]["domain"]
    assert low < 1.02 < high and high < 10 and low > 0.1  # kaiming's 1.02 fills the chart
    assert y["axis"]["format"] == views.LOG_FORMAT
    rows = next(iter(spec["datasets"].values()))
    (exit_row,) = [r for r in rows if r["mark"] == "exit"]
    assert (exit_row["init"], exit_row["layer"], exit_row["direction"]) == ("randn", 0, "above")
    assert exit_row["edge"] == high
    assert "randn" in spec["title"]["subtitle"]
    full = views.layer_chart(deep, "std", focus=False).to_dict()
    assert "domain" not in full["layer"][0]["encoding"]["y"]["scale"]
    tame = views.layer_chart(deep[deep["init"] == "kaiming-normal"], "std").to_dict()
    assert "domain" not in tame["layer"][0]["encoding"]["y"]["scale"]  # nothing to leave out
