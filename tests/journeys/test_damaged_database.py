"""A damaged results database, made so with real files (issue 20, part 7): a sweep
checks what it needs (SQLite's ``quick_check``, the schema revision, every table)
before it writes its first row and refuses in one line, leaving the file as it was;
a row whose stored time is malformed is shown as damaged by ``runner runs``,
``--json``, ``--csv``, ``show`` and the app, instead of failing them with ValueError."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from streamlit.testing.v1 import AppTest

from scratchlab.runner.cli import cli

APP = Path(__file__).resolve().parents[2] / "reports" / "app.py"
#: two cheap gradcheck runs
GRADCHECK = ("--experiments", "gradcheck", "--activation", "relu,tanh", "--loss", "mse")


def invoke(db: Path, *args: str) -> Result:
    """``runner --db <db> ARGS`` in-process, at 80 columns."""
    return CliRunner().invoke(
        cli, ["--db", f"sqlite:///{db}", *args], env={"COLUMNS": "80"}, catch_exceptions=False
    )


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A database with one sweep of two gradcheck runs, written by ``runner sweep``."""
    path = tmp_path_factory.mktemp("made") / "runs.db"
    result = invoke(path, "sweep", *GRADCHECK, "--inline", "-q")
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def db(made: Path, tmp_path: Path) -> Path:
    """A copy of :func:`made` of the test's own (its WAL checkpointed into the file)."""
    copy = tmp_path / "runs.db"
    with closing(sqlite3.connect(made)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return copy


def sql(db: Path, *statements: str) -> None:
    """Run ``statements`` on ``db`` with plain sqlite3, as a hand edit would."""
    with closing(sqlite3.connect(db)) as connection:
        for statement in statements:
            connection.execute(statement)
        connection.commit()


def assert_refused_untouched(db: Path, *words: str) -> None:
    """A new sweep on ``db`` exits 1 with one ``Error:`` line naming ``words``, and the file
    is byte for byte what it was (no sweep row, no run row, no WAL replayed into it)."""
    before = db.read_bytes()
    result = invoke(db, "sweep", *GRADCHECK, "--inline", "-q")
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert all(word in errors[0] for word in words), errors[0]
    assert "Traceback" not in result.output
    assert db.read_bytes() == before
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0


# --------------------------------------------------------------------------- a sweep refuses


def test_a_database_corrupted_in_the_middle_is_refused_before_the_first_row(db: Path):
    with closing(sqlite3.connect(db)) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        roots = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND rootpage > 1"
            " ORDER BY rootpage"
        ).fetchall()
    root = roots[len(roots) // 2][0]  # a table's page in the middle of the file
    data = bytearray(db.read_bytes())
    data[(root - 1) * page_size : root * page_size] = b"\xde\xad\xbe\xef" * (page_size // 4)
    db.write_bytes(bytes(data))
    assert_refused_untouched(db, "is damaged", "quick_check", "backup")


def test_a_database_with_a_dropped_table_is_refused_before_the_first_row(db: Path):
    sql(db, "DROP TABLE metrics")
    assert_refused_untouched(db, "lacks the table metrics", "backup")


def test_a_database_at_another_revision_is_refused_before_the_first_row(db: Path):
    sql(db, "UPDATE scratchlab_version SET version_num = '9999'")
    assert_refused_untouched(db, "newer scratchlab")


# --------------------------------------------------------------------------- reads show damage


@pytest.fixture
def damaged_times(db: Path) -> Path:
    """:func:`db` with run 1's start, run 2's end and the sweep's start malformed."""
    sql(
        db,
        "UPDATE runs SET started_at = 'yesterday' WHERE run_id = 1",
        "UPDATE runs SET finished_at = '2026-13-45 99:00:00' WHERE run_id = 2",
        "UPDATE sweeps SET started_at = 'soon'",
    )
    return db


def test_runs_shows_a_row_with_a_malformed_time_as_damaged(damaged_times: Path):
    result = invoke(damaged_times, "runs", "--columns", "run_id,status,duration")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "│" in line]
    assert len(rows) == 2 and all("damaged" in row for row in rows), result.stdout


def test_runs_json_and_csv_carry_the_damaged_text(damaged_times: Path):
    result = invoke(damaged_times, "runs", "--json")
    assert result.exit_code == 0, result.output
    runs = {run["run_id"]: run for run in json.loads(result.stdout)["runs"]}
    assert runs[1]["started_at"] == "damaged: 'yesterday'"
    assert runs[2]["finished_at"] == "damaged: '2026-13-45 99:00:00'"
    assert runs[1]["duration_s"] is None and runs[2]["duration_s"] is None
    csv = invoke(damaged_times, "runs", "--csv")
    assert csv.exit_code == 0, csv.output
    assert "damaged: 'yesterday'" in csv.stdout


def test_show_shows_the_damaged_time(damaged_times: Path):
    for run_id, text in (("1", "damaged: 'yesterday'"), ("2", "damaged: '2026-13-45")):
        result = invoke(damaged_times, "show", run_id)
        assert result.exit_code == 0, result.output
        assert text in result.stdout
        assert "Traceback" not in result.output


@pytest.mark.slow
def test_the_app_pages_open_on_damaged_times(damaged_times: Path, monkeypatch):
    monkeypatch.setenv("SCRATCHLAB_DB", f"sqlite:///{damaged_times}")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    for page, query in (("sweeps", {}), ("runs", {}), ("run", {"run.id": "1"})):
        at.query_params.update(query)
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
