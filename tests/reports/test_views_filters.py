"""Run filters: the words typed after ``--where`` and kept in the app's URL."""

from __future__ import annotations

import pandas as pd
import pytest

from scratchlab.reports.filters import FilterError, RunFilter, matches, parse_value, parse_where
from scratchlab.reports.source import as_url, resolve_db_url


def test_where_expressions_become_list_runs_params():
    params = parse_where(["matmul=torch,einsum", "lr>=0.1", "lr<=0.5", "bs=64", "activation=relu"])
    assert params == {"matmul": ["torch", "einsum"], "lr": (0.1, 0.5), "bs": 64, "activation": "relu"}
    assert parse_where(["lr>=1e-3"]) == {"lr": (0.001, None)}
    assert parse_value("nan") == "nan"  # a name, not a number


@pytest.mark.parametrize(
    ("expression", "message"),
    [("lr", "cannot read filter"), ("lr>=fast", "needs a number"), ("lr=", "no value"), ("lr~1", "cannot read")],
)
def test_bad_where_expressions_say_what_is_wrong(expression, message):
    with pytest.raises(FilterError, match=message):
        parse_where([expression])


def test_conflicting_conditions_on_one_param_are_refused():
    with pytest.raises(FilterError, match="already set"):
        parse_where(["lr>=0.1", "lr>=0.2"])
    with pytest.raises(FilterError, match="not both"):
        parse_where(["lr=0.1", "lr>=0.2"])


def test_is_empty_only_without_any_restriction():
    assert RunFilter().is_empty
    assert not RunFilter(params={"lr": (0.1, None)}).is_empty


def test_query_kwargs_leave_unrestricted_fields_out():
    kwargs = RunFilter(statuses=("failed",)).query_kwargs()
    assert kwargs == {"sweep_ids": None, "statuses": ["failed"], "experiments": None, "params": None}


def test_matches_applies_what_the_frame_has_and_reports_the_rest():
    frame = pd.DataFrame({"sweep_id": [1, 1, 2], "experiment": ["matmul"] * 3,
                          "matmul": ["torch", "einsum", "torch"], "lr": [0.1, 0.5, 1.0]})
    run_filter = RunFilter(sweep_ids=(1,), params={"matmul": ["torch", "einsum"], "lr": (0.2, None), "bs": 64})
    assert matches(frame, run_filter).tolist() == [False, True, False]
    from scratchlab.reports.filters import unapplied

    assert unapplied(frame, run_filter) == ["bs"]


def test_database_url_comes_from_argv_then_environment_then_working_directory(tmp_path):
    assert resolve_db_url(["--db", "sqlite:///x.db"], {"SCRATCHLAB_DB": "sqlite:///y.db"}) == "sqlite:///x.db"
    assert resolve_db_url(["-x", "tests"], {"SCRATCHLAB_DB": "sqlite:///y.db"}) == "sqlite:///y.db"
    assert resolve_db_url([], {}, cwd=tmp_path) == f"sqlite:///{tmp_path / 'runs.db'}"
    # pytest's own options do not pass for an abbreviation of --db
    assert resolve_db_url(["--d", "z"], {}, cwd=tmp_path) == f"sqlite:///{tmp_path / 'runs.db'}"
    assert as_url("results/runs.db", cwd=tmp_path) == f"sqlite:///{tmp_path / 'results' / 'runs.db'}"
