"""Terminal output of ``runner importance`` and ``runner sweeps``: within the width, bars in eighths."""

from __future__ import annotations

from pathlib import Path

from scratchlab.db import open_store, queries
from scratchlab.db.analysis import metric_table
from scratchlab.reports.importance import compute
from scratchlab.reports.management import bar, importance_lines, sweeps_table

APP = Path(__file__).resolve().parents[2] / "reports" / "app.py"


def test_importance_text_is_a_bar_per_line_within_the_width(analysis_db):
    with open_store(analysis_db, read_only=True) as store:
        result = compute(metric_table(store, "valid_accuracy"))
    for width in (60, 80, 120):
        lines = importance_lines(result, width)
        assert all(len(line) <= width for line in lines)
    lines = importance_lines(result, 80)
    assert lines[1].startswith("init") and lines[-1] == "same in every run: matmul=torch"
    assert bar(0.5, 8) == "████    " and bar(0.0, 4) == "    "


def test_sweeps_table_fits_80_columns(analysis_db):
    from rich.console import Console

    with open_store(analysis_db, read_only=True) as store:
        sweeps = queries.list_sweeps(store)
    console = Console(width=80, record=True)
    console.print(sweeps_table(sweeps, {1: ["a-long-tag-name"]}))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "9 done" in text and "a-long-tag-name" in text
