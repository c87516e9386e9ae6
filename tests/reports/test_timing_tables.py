"""The timing tables of ``runner compare`` (reports.timing_tables): benchmark-style
times with speed-ups, and one sweep against another."""

from __future__ import annotations

import io

from rich.console import Console

from scratchlab.reports import timing_tables
from scratchlab.reports.views import timings as views


def render(renderable, width: int = 200) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_benchmark_table_has_rows_per_component_and_columns_per_shape(timings_frames):
    timings, replicates = timings_frames
    summary = views.with_speedup(views.summarize(timings, "matmul", replicates), "matmul", "python")
    text = render(timing_tables.benchmark_table(summary, "matmul", baseline="python"))
    header = next(line for line in text.splitlines() if "5x784x10" in line)
    assert header.index("5x784x10") < header.index("64x784x50")
    torch_row = next(line for line in text.splitlines() if line.strip().startswith("torch"))
    assert "10.00 ± 0.20 (2,000x faster)" in torch_row and "Times are in µs" in text
    python_row = next(line for line in text.splitlines() if line.strip().startswith("python"))
    assert "faster" not in python_row and "slower" not in python_row  # the baseline itself


def test_fixed_prints_benchmark_style_numbers():
    assert timing_tables.fixed(12800.0) == "12800" and timing_tables.fixed(0.0123) == "0.01230"
    assert timing_tables.fixed(2000.0, 3) == "2000" and timing_tables.fixed(0.0) == "0"


def test_a_slow_down_reads_as_its_factor_not_as_a_tiny_speed_up():
    assert timing_tables.speedup_text(3.24) == " (3.24x faster)"
    assert timing_tables.speedup_text(1 / 107813.4) == " (107,813x slower)"
    assert timing_tables.speedup_text(float("nan")) == timing_tables.speedup_text(0) == ""


def test_regression_table_names_both_sweeps_and_the_verdict(timings_frames, samples):
    timings, replicates = timings_frames
    before = views.summarize(timings, "matmul", replicates)
    # a second sweep where einsum took 1.5 times as long, every replicate of it
    slowed, slowed_replicates = samples.timing_frames(seed=1)
    einsum = slowed["matmul"] == "einsum"
    slowed.loc[einsum, ["median", "iqr", "min", "max", "mean"]] *= 1.5
    slower = slowed_replicates["timing_id"].isin(set(slowed.loc[einsum, "timing_id"]))
    slowed_replicates.loc[slower, "seconds"] *= 1.5
    after = views.summarize(slowed, "matmul", slowed_replicates)
    comparison = views.compare_sweeps(before, after, "matmul")
    text = render(timing_tables.regression_table(comparison, "matmul", before="#1", after="#3"))
    assert text.splitlines()[0].strip() == "#3 against #1"
    einsum_rows = [line for line in text.splitlines() if line.strip().startswith("einsum")]
    assert einsum_rows and all("slower" in line and "1.500" in line for line in einsum_rows)
