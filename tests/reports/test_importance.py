"""Importance over stored runs (reports.importance): who decides the metric, and the direction rule."""

from __future__ import annotations

import pytest

from scratchlab.db import open_store
from scratchlab.db.analysis import metric_table
from scratchlab.reports.importance import ImportanceError, compute, direction_of


def test_the_init_decides_and_what_never_varies_is_fixed(analysis_db):
    """18 runs: the init moves accuracy by 0.65, lr by 0.02; PED-ANOVA's default top 10%
    (two runs) would rank lr first, the top set of at least five ranks the init first."""
    with open_store(analysis_db, read_only=True) as store:
        table = metric_table(store, "valid_accuracy")
    result = compute(table)
    assert [name for name, _kind, _value in result.rows] == ["init", "lr"]
    assert result.rows[0][2] > 0.8 and result.fixed == {"matmul": "torch"} and result.runs == 18
    with pytest.raises(ImportanceError, match="evaluator 'magic'"):
        compute(table, evaluator="magic")


def test_the_direction_follows_the_metric_name_unless_given():
    from scratchlab.reports.importance import ImportanceError

    assert direction_of("valid_accuracy") == "maximize"
    assert direction_of("valid_loss") == direction_of("5x784x10.median_s") == "minimize"
    assert direction_of("samples_per_s") == direction_of("5x784x10.gflops") == "maximize"
    assert direction_of("valid_loss", "max") == "maximize"
    with pytest.raises(ImportanceError, match="expected max or min"):
        direction_of("valid_loss", "up")
