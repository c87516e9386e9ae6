"""Migrations: a database made at the first revision is upgraded to head with its rows intact."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import MetaData, insert, select

from scratchlab.db import OutdatedDatabaseError, open_store, queries, upgrade
from scratchlab.db.engine import make_engine, transaction
from scratchlab.db.models import metadata
from scratchlab.db.schema import (
    VERSION_TABLE,
    alembic_config,
    head_revision,
    known_revisions,
    revision_title,
)
from scratchlab.runner.cli import cli

FIRST = "0001"
WHEN = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)


def add_rows_at_first_revision(url: str) -> None:
    """Rows as the first schema held them (replicates as a JSON list in timings)."""
    engine = make_engine(url)
    try:
        with transaction(engine, write=True) as conn:
            meta = MetaData()
            meta.reflect(conn)
            t = meta.tables
            conn.execute(
                insert(t["sweeps"]),
                [
                    {
                        "sweep_id": 1,
                        "name": "old sweep",
                        "argv_json": '["runner", "sweep"]',
                        "spec_json": "{}",
                        "environment_json": '{"python": "3.11"}',
                        "status": "done",
                        "started_at": WHEN,
                        "finished_at": WHEN,
                    }
                ],
            )
            conn.execute(
                insert(t["runs"]),
                [
                    {
                        "run_id": 1,
                        "sweep_id": 1,
                        "key": "abc",
                        "experiment": "matmul",
                        "device": "cpu",
                        "dtype": "float32",
                        "seed": 0,
                        "repeat": 0,
                        "status": "done",
                        "started_at": WHEN,
                        "finished_at": WHEN,
                    }
                ],
            )
            conn.execute(
                insert(t["params"]),
                [
                    {
                        "run_id": 1,
                        "name": "matmul",
                        "kind": "component",
                        "value_text": "einsum",
                        "version": "0.0.9+aaa",
                    },
                    {
                        "run_id": 1,
                        "name": "shapes",
                        "kind": "json",
                        "value_text": '["5x784x10"]',
                        "version": None,
                    },
                ],
            )
            conn.execute(
                insert(t["timings"]),
                [
                    {
                        "timing_id": 1,
                        "run_id": 1,
                        "label": "5x784x10",
                        "shape": "5x784x10",
                        "n": 4,
                        "number_per_run": 1,
                        "median": 2e-3,
                        "iqr": 1e-4,
                        "mean": 2e-3,
                        "min": 1e-3,
                        "max": math.inf,
                        "flops": 78400.0,
                        "threads": 1,
                        "replicates_json": json.dumps([1e-3, 2e-3, math.nan, math.inf]),
                    },
                    {
                        "timing_id": 2,
                        "run_id": 1,
                        "label": "empty",
                        "shape": None,
                        "n": 0,
                        "number_per_run": 1,
                        "median": 0.0,
                        "iqr": 0.0,
                        "mean": 0.0,
                        "min": 0.0,
                        "max": 0.0,
                        "flops": None,
                        "threads": None,
                        "replicates_json": "[]",
                    },
                ],
            )
            conn.execute(
                insert(t["activation_stats"]),
                [
                    {
                        "run_id": 1,
                        "model": "mlp",
                        "layer": 0,
                        "name": "linear0",
                        "step": None,
                        "mean": 0.0,
                        "std": 1.0,
                        "min": -1.0,
                        "max": 1.0,
                        "frac_zero": 0.5,
                        "frac_nonfinite": 0.0,
                    }
                ],
            )
            conn.execute(
                insert(t["metrics"]), [{"run_id": 1, "name": "gflops", "step": None, "value": 3.5}]
            )
    finally:
        engine.dispose()


def test_the_first_revision_is_the_base_and_every_revision_has_a_title():
    revisions = known_revisions()
    assert revisions[0] == FIRST and revisions[-1] == head_revision() and len(revisions) >= 2
    for revision in revisions:
        assert revision_title(revision) and revision_title(revision) != revision


def test_upgrade_from_the_first_revision_keeps_every_row(db_url, database_at):
    database_at(db_url, FIRST)
    add_rows_at_first_revision(db_url)
    with pytest.raises(OutdatedDatabaseError, match=r"run `runner --db .* db upgrade`"):
        open_store(db_url)

    before, after = upgrade(db_url)
    assert (before.kind, before.revision) == ("old", FIRST)
    assert (after.kind, after.revision) == ("current", head_revision())

    with open_store(db_url, read_only=True) as store:
        sweeps = queries.list_sweeps(store)
        assert list(sweeps["name"]) == ["old sweep"] and sweeps.iloc[0]["done"] == 1
        runs = queries.list_runs(store)
        assert runs.iloc[0]["key"] == "abc" and runs.iloc[0]["matmul"] == "einsum"
        assert runs.iloc[0]["shapes"] == ["5x784x10"]
        assert queries.run_summary(store, 1)["component_versions"] == {"matmul": "0.0.9+aaa"}
        timings = queries.timings(store)
        assert list(timings["timing_id"]) == [1, 2] and timings.iloc[0]["max"] == math.inf
        replicates = queries.timing_replicates(store, [1, 2])
        assert list(replicates["timing_id"]) == [1, 1, 1, 1]
        assert list(replicates["replicate"]) == [0, 1, 2, 3]
        seconds = list(replicates["seconds"])
        assert seconds[:2] == [1e-3, 2e-3] and math.isnan(seconds[2]) and seconds[3] == math.inf
        assert queries.activation_stats(store).iloc[0]["frac_zero"] == 0.5
        assert queries.final_metrics(store).iloc[0]["value"] == 3.5

    # the migrated schema is exactly the one a new database gets
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_downgrade_puts_replicates_back_into_json(db_url, database_at):
    database_at(db_url, FIRST)
    add_rows_at_first_revision(db_url)
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with transaction(engine, write=True) as conn:
            command.downgrade(alembic_config(conn), FIRST)
        with transaction(engine) as conn:
            meta = MetaData()
            meta.reflect(conn)
            assert "timing_replicates" not in meta.tables
            stored = dict(
                conn.execute(select(meta.tables["timings"].c["timing_id", "replicates_json"])).all()
            )
    finally:
        engine.dispose()
    first = json.loads(stored[1])
    assert first[:2] == [1e-3, 2e-3] and math.isnan(first[2]) and first[3] == math.inf
    assert json.loads(stored[2]) == []


def test_runner_db_upgrade_and_current(sqlite_url, database_at):
    runner = CliRunner()
    database_at(sqlite_url, FIRST)
    current = runner.invoke(cli, ["--db", sqlite_url, "db", "current"])
    assert current.exit_code == 0, current.output
    assert (
        f'schema {FIRST} "{revision_title(FIRST)}", older than {head_revision()}' in current.output
    )
    assert "run `runner db upgrade`" in current.output

    upgraded = runner.invoke(cli, ["--db", sqlite_url, "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert (
        f"from schema {FIRST} " in upgraded.output and f"to {head_revision()} " in upgraded.output
    )

    again = runner.invoke(cli, ["--db", sqlite_url, "db", "upgrade"])
    assert again.exit_code == 0 and "already at the latest schema" in again.output

    as_json = runner.invoke(cli, ["--db", sqlite_url, "db", "current", "--json"])
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.output)
    assert (
        payload["state"] == "current" and payload["revision"] == payload["head"] == head_revision()
    )
    assert payload["title"] == revision_title(head_revision())


def test_runner_db_upgrade_creates_a_new_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = CliRunner().invoke(cli, ["--db", url, "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"created {tmp_path / 'new.db'} at schema {head_revision()}")
    with open_store(url, read_only=True) as store:
        assert queries.count_runs(store) == 0


def test_the_head_constant_is_the_migrations_head():
    """Opening a current database skips Alembic by comparing with HEAD_REVISION."""
    from scratchlab.db.schema import HEAD_REVISION, script_directory

    assert script_directory().get_current_head() == HEAD_REVISION


def _shape(url: str) -> dict:
    """Everything the database's schema declares, table by table, as plain comparable data."""
    from sqlalchemy import inspect

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            seen = inspect(conn)
            return {
                table: {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                        for c in seen.get_columns(table)
                    ],
                    "primary key": seen.get_pk_constraint(table),
                    "foreign keys": sorted(map(repr, seen.get_foreign_keys(table))),
                    "indexes": sorted(map(repr, seen.get_indexes(table))),
                    "unique": sorted(map(repr, seen.get_unique_constraints(table))),
                    "checks": sorted(map(repr, seen.get_check_constraints(table))),
                }
                for table in sorted(seen.get_table_names())
            }
    finally:
        engine.dispose()


def test_a_new_database_gets_the_schema_the_migrations_build_without_alembic(db_url):
    """A new database is made from the models and stamped at head (no migration runs, no
    Alembic import); its tables, columns, keys, indexes and constraints are exactly those of
    one built by every migration in turn, so later migrations apply to either alike."""
    import subprocess
    import sys

    probe = (
        "import sys; from scratchlab.db import open_store; "
        f"open_store({db_url!r}).close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
    created = _shape(db_url)
    engine = make_engine(db_url)
    try:
        with transaction(engine, write=True) as conn:
            metadata.drop_all(conn)
            conn.exec_driver_sql(f"DROP TABLE {VERSION_TABLE}")
        with transaction(engine, write=True) as conn:
            command.upgrade(alembic_config(conn), "head")
    finally:
        engine.dispose()
    assert created == _shape(db_url)
    with open_store(db_url, read_only=True) as store:
        assert queries.count_runs(store) == 0


def test_reading_a_current_database_does_not_import_alembic(tmp_path):
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    open_store(url).close()
    probe = (
        "import sys; from scratchlab.db import open_store, queries; "
        f"s = open_store({url!r}, read_only=True); queries.list_sweeps(s); "
        "print('alembic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_upgrade_from_0005_adds_empty_tags_and_notes_keeping_every_run(sqlite_url, database_at):
    """A database from before tags (0005) upgrades with its runs, params and metrics intact,
    and the new columns and tables start empty and take writes."""
    database_at(sqlite_url, "0005")
    engine = make_engine(sqlite_url)
    try:
        with transaction(engine, write=True) as conn:
            meta = MetaData()
            meta.reflect(conn)
            t = meta.tables
            assert "run_tags" not in t and "note" not in t["runs"].c
            conn.execute(
                insert(t["sweeps"]),
                [
                    {
                        "sweep_id": 1,
                        "name": "before tags",
                        "argv_json": "[]",
                        "spec_json": "{}",
                        "environment_json": "{}",
                        "status": "done",
                        "started_at": WHEN,
                    }
                ],
            )
            conn.execute(
                insert(t["runs"]),
                [
                    {
                        "run_id": 7,
                        "sweep_id": 1,
                        "key": "k",
                        "experiment": "train",
                        "device": "cpu",
                        "dtype": "float32",
                        "seed": 0,
                        "repeat": 0,
                        "status": "done",
                        "reason": "ran fine",
                    }
                ],
            )
            conn.execute(
                insert(t["final_metrics"]),
                [{"run_id": 7, "name": "valid_accuracy", "step": 1, "value": 0.9}],
            )
    finally:
        engine.dispose()

    before, after = upgrade(sqlite_url)
    assert (before.revision, after.revision) == ("0005", "0006") == ("0005", head_revision())

    engine = make_engine(sqlite_url)
    try:
        with transaction(engine) as conn:
            meta = MetaData()
            meta.reflect(conn)
            run = conn.execute(select(meta.tables["runs"])).mappings().one()
            assert (run["run_id"], run["reason"], run["note"]) == (7, "ran fine", None)
            assert conn.execute(select(meta.tables["run_tags"])).all() == []
            assert conn.execute(select(meta.tables["sweep_tags"])).all() == []
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
    with open_store(sqlite_url, read_only=True) as store:
        assert queries.final_metrics(store).iloc[0]["value"] == 0.9
