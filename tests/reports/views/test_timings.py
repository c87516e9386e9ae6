"""Timings page logic: medians, IQRs, speed-ups, GFLOP/s and the two-sweep check."""

from __future__ import annotations

import pandas as pd
import pytest

from scratchlab.reports.views import timings as views


def test_summary_has_every_strategy_and_shape_with_its_median_and_gflops(timings_frames, samples):
    timings, replicates = timings_frames
    summary = views.summarize(timings, "matmul", replicates)
    assert len(summary) == len(samples.STRATEGIES) * len(samples.SHAPES)
    # the smallest problem first, as benchmark tables list them
    assert list(summary["shape"].unique()) == ["5x784x10", "64x784x50"]
    row = summary[(summary["matmul"] == "einsum") & (summary["shape"] == "64x784x50")].iloc[0]
    expected = 2e-5 * samples.SHAPES["64x784x50"] / 39200
    assert row["median"] == pytest.approx(expected)
    assert row["gflops"] == pytest.approx(2 * samples.SHAPES["64x784x50"] / expected / 1e9)
    assert len(row["replicates"]) == samples.N_REPLICATES
    assert row["lo"] < row["median"] < row["hi"] and row["iqr"] == pytest.approx(
        row["hi"] - row["lo"]
    )
    # a matmul timing is labelled by its shape: all shapes share the experiment's label
    assert set(summary["label"]) == {"matmul"}


def test_summary_without_replicates_uses_the_stored_iqr(timings_frames):
    timings, _ = timings_frames
    summary = views.summarize(timings, "matmul")
    row = summary.iloc[0]
    stored = timings[
        (timings["matmul"] == row["matmul"]) & (timings["shape"] == row["shape"])
    ].iloc[0]
    assert row["iqr"] == pytest.approx(stored["iqr"]) and row["replicates"] == []


def test_speedup_against_the_chosen_baseline(timings_frames, samples):
    summary = views.with_speedup(views.summarize(timings_frames[0], "matmul"), "matmul", "python")
    speedups = summary.groupby("matmul")["speedup"].first()
    assert speedups["python"] == pytest.approx(1.0)
    assert speedups["torch"] == pytest.approx(
        samples.STRATEGIES["python"] / samples.STRATEGIES["torch"], rel=1e-6
    )
    assert (
        views.with_speedup(summary.drop(columns="speedup"), "matmul", None)["speedup"].isna().all()
    )


def test_default_group_is_the_varying_component(timings_frames):
    timings, _ = timings_frames
    assert views.default_group(timings) == "matmul"
    assert views.default_group(timings.assign(matmul="torch")) == "label"


def test_pick_unit_like_benchmark_compare():
    assert views.pick_unit([2e-5, 1e-3]) == ("µs", 1e-6)
    assert views.pick_unit([0.5]) == ("ms", 1e-3)
    assert views.pick_unit([]) == ("s", 1.0)


def test_chart_is_a_log_axis_bar_chart_with_iqr_rules(timings_frames):
    summary = views.with_speedup(summarize(timings_frames), "matmul", "python")
    spec = views.timing_chart(summary, "matmul").to_dict()
    bars, rules = spec["layer"]
    assert bars["mark"]["type"] == "bar" and bars["encoding"]["x"]["scale"]["type"] == "log"
    # a log axis has no zero: bars start from a power of ten below the fastest quartile
    assert bars["encoding"]["x2"]["field"] == "floor"
    floor = summary["lo"].min() / 1e-6
    assert all(0.1 * floor < row["floor"] <= floor for row in spec["datasets"].popitem()[1])
    assert rules["mark"]["type"] == "rule" and rules["encoding"]["x2"]["field"] == "hi"
    table = views.timing_table(summary, "matmul")
    assert {"median (µs)", "IQR (µs)", "GFLOP/s", "speed-up"} <= set(table.columns)


def summarize(frames):
    """Summary by matmul strategy of (timings, replicates)."""
    timings, replicates = frames
    return views.summarize(timings, "matmul", replicates)


def _slowed(samples, strategy: str, factor: float, seed: int = 1):
    timings, replicates = samples.timing_frames(seed=seed)
    ids = set(timings.loc[timings["matmul"] == strategy, "timing_id"])
    timings.loc[timings["matmul"] == strategy, ["median", "iqr", "min", "max", "mean"]] *= factor
    replicates.loc[replicates["timing_id"].isin(ids), "seconds"] *= factor
    return timings, replicates


def test_two_sweeps_flag_only_changes_beyond_noise(timings_frames, samples):
    before = summarize(timings_frames)
    after = summarize(_slowed(samples, "einsum", 1.5))
    comparison = views.compare_sweeps(before, after, "matmul")
    assert len(comparison) == len(before)
    changed = comparison[comparison["change"] != "within noise"]
    assert set(changed["matmul"]) == {"einsum"} and set(changed["change"]) == {"slower"}
    assert (changed["ratio"].round(6) == 1.5).all() and (changed["p_value"] < 0.01).all()
    faster = views.compare_sweeps(before, summarize(_slowed(samples, "torch", 0.5)), "matmul")
    assert set(faster.loc[faster["change"] != "within noise", "change"]) == {"faster"}


def test_a_shift_inside_the_noise_is_not_flagged(timings_frames, samples):
    # +0.5%: inside the replicates' +-2% spread, IQRs overlap
    after = summarize(_slowed(samples, "einsum", 1.005, seed=2))
    comparison = views.compare_sweeps(summarize(timings_frames), after, "matmul")
    assert (comparison["change"] == "within noise").all()


def test_without_replicates_non_overlapping_iqrs_still_flag(timings_frames, samples):
    before = views.summarize(timings_frames[0], "matmul")
    after = views.summarize(_slowed(samples, "python", 2.0)[0], "matmul")
    comparison = views.compare_sweeps(before, after, "matmul")
    assert comparison["p_value"].isna().all()
    assert set(comparison.loc[comparison["change"] == "slower", "matmul"]) == {"python"}


def test_environment_differences_name_cpu_torch_and_devices_only():
    before = {
        "cpu": "Xeon",
        "torch": "2.3.0",
        "python": "3.11",
        "devices": ["cpu"],
        "packages": {"torch": "2.3.0"},
    }
    after = {
        "cpu": "EPYC",
        "torch": "2.3.0",
        "python": "3.12",
        "devices": ["cpu"],
        "packages": {"torch": "2.4.0"},
    }
    differences = views.environment_differences(before, after)
    assert differences.to_dict("records") == [
        {"key": "cpu", "before": "Xeon", "after": "EPYC"},
        {"key": "packages.torch", "before": "2.3.0", "after": "2.4.0"},
    ]
    assert views.environment_differences(before, dict(before)).empty


def test_the_default_baseline_is_python_else_the_slowest_over_all_shapes(timings_frames):
    timings, _ = timings_frames
    assert views.default_baseline(timings, "matmul") == "python"
    without = timings[timings["matmul"] != "python"].copy()
    # a noisy sweep: torch's small-shape median jumps to 3x broadcast's on that shape only
    small = without["shape"] == "5x784x10"
    broadcast = float(without.loc[small & (without["matmul"] == "broadcast"), "median"].iloc[0])
    without.loc[small & (without["matmul"] == "torch"), "median"] = 3 * broadcast
    assert views.default_baseline(without, "matmul") == "broadcast"


def test_a_wide_spread_or_a_noisy_timing_is_flagged(timings_frames):
    timings, replicates = timings_frames
    timings = timings.copy()
    timings["quality"] = [
        "noisy" if (m, s) == ("einsum", "5x784x10") else "ok"
        for m, s in zip(timings["matmul"], timings["shape"])
    ]
    summary = views.summarize(timings, "matmul", replicates)
    summary.loc[(summary["matmul"] == "torch") & (summary["shape"] == "64x784x50"), "iqr"] *= 50
    table = views.timing_table(summary, "matmul")
    flags = {(m, s): f for m, s, f in zip(table["matmul"], table["shape"], table["flag"])}
    assert flags[("einsum", "5x784x10")] == "⚠ stored noisy"
    assert (
        flags[("torch", "64x784x50")].startswith("⚠ IQR")
        and "of median" in flags[("torch", "64x784x50")]
    )
    assert sum(1 for f in flags.values() if f) == 2


def test_a_table_of_times_uses_one_unit():
    frame = pd.DataFrame({"median_before": [2e-6, 0.5], "median_after": [3e-6, 0.6]})
    converted = views.in_unit(frame, ["median_before", "median_after"])
    assert list(converted.columns) == ["median_before (µs)", "median_after (µs)"]
    assert converted["median_after (µs)"].tolist() == pytest.approx([3.0, 600000.0])
