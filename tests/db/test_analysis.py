"""The analysis table (db.analysis.metric_table): trial numbers, dimensions and the sample."""

from __future__ import annotations

from pathlib import Path

from scratchlab.db import open_store
from scratchlab.db.analysis import metric_table
from scratchlab.reports.views import analysis as views

APP = Path(__file__).resolve().parents[2] / "reports" / "app.py"


def test_the_table_numbers_trials_per_sweep_and_samples_on_request(analysis_db):
    with open_store(analysis_db, read_only=True) as store:
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
