"""Where the app finds its database (the run filter itself is tested in tests/platform/test_run_filter.py)."""

from __future__ import annotations

from scratchlab.reports.source import as_url, resolve_db_url


def test_database_url_comes_from_argv_then_environment_then_working_directory(tmp_path):
    assert (
        resolve_db_url(["--db", "sqlite:///x.db"], {"SCRATCHLAB_DB": "sqlite:///y.db"})
        == "sqlite:///x.db"
    )
    assert resolve_db_url(["-x", "tests"], {"SCRATCHLAB_DB": "sqlite:///y.db"}) == "sqlite:///y.db"
    assert resolve_db_url([], {}, cwd=tmp_path) == f"sqlite:///{tmp_path / 'runs.db'}"
    # pytest's own options do not pass for an abbreviation of --db
    assert resolve_db_url(["--d", "z"], {}, cwd=tmp_path) == f"sqlite:///{tmp_path / 'runs.db'}"
    assert (
        as_url("results/runs.db", cwd=tmp_path) == f"sqlite:///{tmp_path / 'results' / 'runs.db'}"
    )
