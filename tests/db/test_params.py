"""A planned run's ``params`` rows: components with their versions, params by type, settings as rows."""

from __future__ import annotations

import dataclasses

import pytest

from scratchlab.db.errors import InvalidValueError
from scratchlab.db.params import PARAM_COLUMNS, decode, param_rows


def test_a_run_gives_one_row_per_choice_and_param(db_samples):
    run = dataclasses.replace(db_samples.planned_run("k0"), threads=2, deterministic=True)
    rows = param_rows(run)
    assert all(len(row) == len(PARAM_COLUMNS) - 1 for row in rows)  # run_id comes first
    by_name = {row[0]: row for row in rows}
    assert by_name["experiment"][1:3] == ("experiment", "train")
    assert by_name["matmul"][1:3] == ("component", "torch")
    assert by_name["matmul"][4] == run.component_versions.get("matmul")
    assert decode(by_name["lr"][1], by_name["lr"][2]) == run.params["lr"]
    assert by_name["threads"][1:4] == ("int", "2", 2.0)
    assert by_name["deterministic"][1:3] == ("bool", "true")


def test_a_param_named_after_a_category_is_refused(db_samples):
    run = db_samples.planned_run("k0", matmul="torch")
    clash = dataclasses.replace(run, params={**run.params, "matmul": 3})
    with pytest.raises(InvalidValueError, match="name of a component category"):
        param_rows(clash)
