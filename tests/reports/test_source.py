"""Where the app finds its database: ``-- --db`` first, then the one rule of ``resolve_url``."""

from __future__ import annotations

from scratchlab.reports.source import resolve_db_url


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
        resolve_db_url(["--db", "results/runs.db"], {}, cwd=tmp_path)
        == f"sqlite:///{tmp_path / 'results' / 'runs.db'}"
    )
