"""Opening a database: what is created, what is refused, and that refused files stay byte-for-byte the same."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from scratchlab.db import (
    CorruptDatabaseError,
    DatabaseError,
    DatabaseNotFoundError,
    ForeignDatabaseError,
    NewerDatabaseError,
    OutdatedDatabaseError,
    ReadOnlyDatabaseError,
    open_store,
    queries,
    upgrade,
)
from scratchlab.db.schema import VERSION_TABLE, head_revision
from scratchlab.runner.cli import cli


def _cli(args: list[str]) -> Callable[[str], None]:
    def attempt(url: str) -> None:
        result = CliRunner().invoke(cli, ["--db", url, *args])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
        raise DatabaseError(result.output.removeprefix("Error: ").strip())

    return attempt


#: every way a user opens a database: the store (read-write and read-only), upgrade, the CLI
OPENERS: dict[str, Callable[[str], object]] = {
    "open_store": lambda url: open_store(url).close(),
    "open_store read-only": lambda url: open_store(url, read_only=True).close(),
    "upgrade": upgrade,
    "runner db upgrade": _cli(["db", "upgrade"]),
    "runner db current": _cli(["db", "current"]),
}


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file in the folder with the SHA-256 of its bytes.

    SQLite's shared-memory index (``-shm``) is left out, and an empty
    ``-wal`` too: to read a WAL database at all, even read-only, SQLite
    creates them when no other connection has; they hold no data.
    """
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if not p.name.endswith("-shm") and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }


def assert_refused(path: Path, error: type[DatabaseError], message: str) -> None:
    """Every opener refuses the file with ``error`` (one line naming it) and leaves the folder as it was."""
    before = fingerprint(path.parent)
    for name, opener in OPENERS.items():
        with pytest.raises(DatabaseError) as caught:
            opener(f"sqlite:///{path}")
        text = str(caught.value)
        if not name.startswith("runner"):
            assert isinstance(caught.value, error), (name, caught.value)
        assert message in text and str(path) in text and "\n" not in text, (name, text)
        assert fingerprint(path.parent) == before, name


def test_a_file_that_is_not_sqlite_is_refused_and_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 100)
    assert_refused(path, CorruptDatabaseError, "is not a SQLite database")


def test_a_damaged_sqlite_file_is_refused_and_untouched(tmp_path):
    path = tmp_path / "damaged.db"
    plain = sqlite3.connect(path)
    plain.execute("CREATE TABLE t (x)")
    plain.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(2000)])
    plain.commit()
    plain.close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, after the 100-byte header
    path.write_bytes(bytes(data))
    assert_refused(path, CorruptDatabaseError, "is not a usable SQLite database")


@pytest.mark.parametrize("version_table", [None, "alembic_version"])
def test_another_applications_database_is_refused_and_untouched(tmp_path, version_table):
    path = tmp_path / "shop.db"
    plain = sqlite3.connect(path)
    plain.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    plain.execute("INSERT INTO customers (name) VALUES ('Ada')")
    if version_table:  # an Alembic-managed application is not us either
        plain.execute(f"CREATE TABLE {version_table} (version_num VARCHAR(32) PRIMARY KEY)")
        plain.execute(f"INSERT INTO {version_table} VALUES ('ae1027a6acf')")
    plain.commit()
    plain.close()
    assert_refused(
        path, ForeignDatabaseError, "is not a scratchlab results database (it holds tables"
    )


def test_a_database_from_a_newer_scratchlab_is_refused_and_untouched(tmp_path):
    path = tmp_path / "runs.db"
    open_store(f"sqlite:///{path}").close()
    plain = sqlite3.connect(path)
    plain.execute(f"UPDATE {VERSION_TABLE} SET version_num = '0099'")
    plain.commit()
    plain.close()
    assert_refused(path, NewerDatabaseError, "written by a newer scratchlab (schema revision 0099")


def test_an_older_database_asks_for_runner_db_upgrade_and_is_untouched(tmp_path, database_at):
    path = tmp_path / "runs.db"
    database_at(f"sqlite:///{path}", "0001")
    before = fingerprint(tmp_path)
    for opener in (open_store, lambda url: open_store(url, read_only=True)):
        with pytest.raises(OutdatedDatabaseError) as caught:
            opener(f"sqlite:///{path}")
        assert "schema revision 0001" in str(caught.value)
        assert f"run `runner --db 'sqlite:///{path}' db upgrade`" in str(caught.value)
        assert fingerprint(tmp_path) == before


def test_read_only_reads_but_never_writes(tmp_path, db_samples):
    path = tmp_path / "runs.db"
    with open_store(f"sqlite:///{path}") as store:
        sweep_id = store.create_sweep("s", [], {}, {})
        run_id = store.add_runs(sweep_id, [db_samples.planned_run("k")])["k"]
        store.write_result(run_id, db_samples.full_result())
    before = path.read_bytes()
    with open_store(f"sqlite:///{path}", read_only=True) as store:
        assert store.read_only
        assert list(queries.list_runs(store)["key"]) == ["k"]
        attempts = [
            lambda: store.create_sweep("t", [], {}, {}),
            lambda: store.add_runs(sweep_id, [db_samples.planned_run("k2")]),
            lambda: store.mark_running([run_id]),
            lambda: store.mark_status([run_id], "failed"),
            lambda: store.write_result(run_id, db_samples.full_result()),
            lambda: store.finish_sweep(sweep_id, "done"),
        ]
        for attempt in attempts:
            with pytest.raises(
                ReadOnlyDatabaseError, match="opened read-only; nothing was written"
            ):
                attempt()
        # even a write that slips past the store is stopped by SQLite itself
        with pytest.raises(Exception, match="readonly"), store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM runs")
    assert path.read_bytes() == before
    wal = tmp_path / "runs.db-wal"
    assert (
        not wal.exists() or wal.stat().st_size == 0
    )  # SQLite may add its WAL index files, never content


def test_read_only_on_a_missing_file_is_a_clear_error_and_creates_nothing(tmp_path):
    path = tmp_path / "missing.db"
    with pytest.raises(DatabaseNotFoundError, match=f"no results database at {path}"):
        open_store(f"sqlite:///{path}", read_only=True)
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{path}", "db", "current"])
    assert result.exit_code == 1 and "no results database" in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_empty_file_is_created_at_head_but_not_in_read_only_mode(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(DatabaseNotFoundError, match="holds no scratchlab results yet"):
        open_store(f"sqlite:///{path}", read_only=True)
    assert path.read_bytes() == b""
    open_store(f"sqlite:///{path}").close()
    plain = sqlite3.connect(path)
    assert plain.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone() == (
        head_revision(),
    )
    # the SQLite settings the store relies on
    assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    plain.close()


def test_the_engine_applies_the_sqlite_settings(sqlite_url):
    with open_store(sqlite_url) as store, store.engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") >= 10_000
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("journal_mode") == "wal"


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatabaseNotFoundError, match=r"folder .*nowhere does not exist"):
        open_store(f"sqlite:///{tmp_path / 'nowhere' / 'runs.db'}")


def test_an_in_memory_database_works(db_samples):
    with open_store("sqlite://") as store:
        sweep_id = store.create_sweep("m", [], {}, {})
        store.add_runs(sweep_id, [db_samples.planned_run("k")])
        assert queries.count_runs(store) == 1


def test_a_bad_url_is_one_line():
    with pytest.raises(DatabaseError, match=re.escape("not a database URL: 'runs.db'")):
        open_store("runs.db")


# --------------------------------------------------------------------------- incomplete, damaged, unwritable


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "table holds no revision instead of one"),
        (["0002", "0003"], "table holds 2 revisions (0002,0003)"),
    ],
)
def test_an_incomplete_version_table_has_its_own_message(tmp_path, rows, message):
    path = tmp_path / "runs.db"
    open_store(f"sqlite:///{path}").close()
    plain = sqlite3.connect(path)
    plain.execute(f"DELETE FROM {VERSION_TABLE}")
    plain.executemany(f"INSERT INTO {VERSION_TABLE} VALUES (?)", [(r,) for r in rows])
    plain.commit()
    plain.close()
    assert_refused(path, CorruptDatabaseError, message)


def test_runner_db_current_runs_quick_check_and_fails_on_damaged_pages(tmp_path):
    path = tmp_path / "runs.db"
    open_store(f"sqlite:///{path}").close()
    plain = sqlite3.connect(path)
    plain.executemany(
        "INSERT INTO sweeps (name, argv_json, spec_json, environment_json, status, started_at)"
        " VALUES (?, '[]', '{}', '{}', 'done', '2026-01-01 00:00:00')",
        [(f"sweep {i} " + "x" * 200,) for i in range(3000)],
    )
    plain.commit()
    page_size, pages = (
        plain.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_size", "page_count")
    )
    plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    plain.close()
    healthy = CliRunner().invoke(cli, ["--db", f"sqlite:///{path}", "db", "current"])
    assert healthy.exit_code == 0 and "up to date" in healthy.output, healthy.output

    data = bytearray(path.read_bytes())
    victim = pages - 2  # a leaf of the sweeps table, far from the schema page
    data[victim * page_size : (victim + 1) * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{path}", "db", "current"])
    assert result.exit_code == 1, result.output
    assert "is damaged: SQLite's quick_check found" in result.output
    assert "up to date" not in result.output and result.output.count("\n") == 1


#: run as root until the database is opened, then as nobody: the imports a command needs
#: come from /root (unreadable to nobody), so the command runs once as root to load them
AS_ANOTHER_USER = """
import logging, os, sys
from click.testing import CliRunner
from scratchlab.runner.cli import cli

warm, target = sys.argv[1], sys.argv[2]
CliRunner().invoke(cli, ["--db", warm, "runs", "--json"], catch_exceptions=False)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
logging.getLogger().handlers.clear()  # as in a new process: warnings go to this invocation's stderr
result = CliRunner().invoke(cli, ["--db", target, "runs", "--json"])
sys.stdout.write(result.stdout)
sys.stderr.write(result.stderr)
sys.exit(result.exit_code)
"""


def test_read_only_viewing_works_in_a_folder_the_user_cannot_write(db_samples):
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user (the folder's owner could always write it)")
    # /tmp itself, not pytest's tmp_path: that lies in a folder only root can enter
    base = Path(tempfile.mkdtemp(prefix="scratchlab-ro-", dir="/tmp"))
    try:
        warm, shared = base / "warm", base / "shared"
        warm.mkdir()
        shared.mkdir()
        for folder, name in ((warm, "warm"), (shared, "visible")):
            with open_store(f"sqlite:///{folder / 'runs.db'}") as store:
                sweep_id = store.create_sweep(name, [], {}, {})
                ids = store.add_runs(sweep_id, [db_samples.planned_run("k1")])
                store.write_result(ids["k1"], db_samples.full_result("done"))
        assert not (shared / "runs.db-wal").exists() and not (shared / "runs.db-shm").exists()
        with closing(sqlite3.connect(shared / "runs.db")) as plain:
            assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        (shared / "runs.db").chmod(0o444)
        shared.chmod(0o555)
        base.chmod(0o755)
        before = fingerprint(shared)

        result = subprocess.run(
            [
                sys.executable,
                "-c",
                AS_ANOTHER_USER,
                f"sqlite:///{warm / 'runs.db'}",
                f"sqlite:///{shared / 'runs.db'}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert "readonly" not in result.stderr and "Traceback" not in result.stderr
        assert '"k1"' in result.stdout or "k1" in result.stdout
        notices = [line for line in result.stderr.splitlines() if "opened as immutable" in line]
        assert len(notices) == 1, result.stderr
        assert "a sweep writing to it meanwhile will not show" in notices[0]
        assert fingerprint(shared) == before
        assert sorted(p.name for p in shared.iterdir()) == ["runs.db"]
    finally:
        shared.chmod(0o755)
        shutil.rmtree(base)
