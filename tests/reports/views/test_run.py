"""Run page: one time unit per view, and the unit in every column name (issue 24, item 11).

A matmul run's median is microseconds, its IQR nanoseconds and its final metrics
seconds: the page showed all three; now the final metrics, the timings table and the
replicate chart all say the unit of the medians."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from scratchlab.core.records import MetricRecord, PlannedRun, RunResult, TimingRecord
from scratchlab.db import open_store
from scratchlab.reports import browser
from scratchlab.reports.views import run as views

#: seconds: a 25 µs median with a 40 ns IQR
REPLICATES = [25.0e-6, 25.02e-6, 25.04e-6, 25.06e-6, 24.98e-6]


def matmul_run(url: str) -> int:
    with open_store(url) as store:
        sweep = store.create_sweep("units", ["runner", "sweep"], {}, {})
        ids = store.add_runs(
            sweep, [PlannedRun("u", "matmul", {"matmul": "einsum"}, {"shapes": "5x784x10"})]
        )
        timing = TimingRecord(
            label="5x784x10",
            shape="5x784x10",
            replicates=REPLICATES,
            median=25.02e-6,
            iqr=0.04e-6,
            mean=25.02e-6,
            min=24.98e-6,
            max=25.06e-6,
            flops=78400.0,
            threads=1,
        )
        metrics = [
            MetricRecord("5x784x10.median_s", 25.02e-6),
            MetricRecord("5x784x10.iqr_s", 0.04e-6),
            MetricRecord("5x784x10.gflops", 3.1),
            MetricRecord("samples_per_s", 4.0e4),  # a rate, not a time
        ]
        store.write_result(ids["u"], RunResult("done", timings=[timing], metrics=metrics))
        store.finish_sweep(sweep, "done")
    return ids["u"]


def test_final_metrics_name_their_unit_and_a_rate_is_left_alone():
    summary = {"metrics": {"a.median_s": 2.5e-5, "samples_per_s": 4.0e4}}
    table = views.metrics_table(summary, ("µs", 1e-6))
    assert dict(zip(table["metric"], table["value"], strict=True)) == pytest.approx(
        {"a.median (µs)": 25.0, "samples_per_s": 4.0e4}
    )


def test_the_run_page_shows_every_time_in_one_unit(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    run_id = matmul_run(url)
    monkeypatch.setenv("SCRATCHLAB_DB", url)
    at = AppTest.from_file(str(browser.APP), default_timeout=90)
    at.run()
    at.query_params.update({"run.id": str(run_id)})
    at.switch_page("app_pages/run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    tables = {tuple(t.value.columns): t.value for t in at.dataframe}
    metrics = next(t for c, t in tables.items() if "metric" in c)
    timings = next(t for c, t in tables.items() if "label" in c)
    units = {n.split("(")[1].rstrip(")") for n in metrics["metric"] if "(" in n}
    units |= {c.split("(")[1].rstrip(")") for c in timings.columns if "(" in c}
    spec = json.loads(at.get("vega_lite_chart")[-1].proto.spec)
    axis = json.dumps(spec, ensure_ascii=False)
    assert units == {"µs"}, units
    assert "time per call (µs, log)" in axis
    assert "samples_per_s" in set(metrics["metric"])
