"""``resolve_url``: the one rule for which database the CLI, the engine, the API and the app open."""

from __future__ import annotations

import pytest

from scratchlab.db.engine import resolve_url
from scratchlab.reading import database_url
from scratchlab.reports.source import resolve_db_url


def test_a_given_value_wins_then_the_environment_then_runs_db_in_cwd(tmp_path):
    env = {"SCRATCHLAB_DB": "sqlite:///from-env.db"}
    assert resolve_url("postgresql://u@h/db", env, tmp_path) == "postgresql://u@h/db"
    assert resolve_url(None, env, tmp_path) == "sqlite:///from-env.db"
    assert resolve_url(None, {}, tmp_path) == f"sqlite:///{tmp_path / 'runs.db'}"


def test_a_plain_path_becomes_an_absolute_sqlite_url(tmp_path):
    assert resolve_url("results/a.db", {}, tmp_path) == f"sqlite:///{tmp_path / 'results' / 'a.db'}"
    assert resolve_url(tmp_path / "b.db", {}) == f"sqlite:///{tmp_path / 'b.db'}"


@pytest.mark.parametrize("given", [None, ""])
def test_an_empty_scratchlab_db_means_unset_everywhere(given, tmp_path, monkeypatch):
    """SCRATCHLAB_DB="" gave an in-memory database to the sweep API and runs.db to
    the notebook API; now every entry point opens runs.db in the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCRATCHLAB_DB", "")
    expected = f"sqlite:///{tmp_path / 'runs.db'}"
    assert resolve_url(given) == expected
    assert database_url(given) == expected
    assert resolve_db_url([] if given is None else ["--db", given]) == expected


def test_the_command_line_follows_the_same_rule(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from scratchlab.runner.cli import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCRATCHLAB_DB", "")
    result = CliRunner().invoke(cli, ["runs"])
    assert result.exit_code == 1
    assert f"no results database at {tmp_path / 'runs.db'}" in result.output
