"""Where SQLite and PostgreSQL differ, each behaving the same to a caller on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from scratchlab.db import models as m
from scratchlab.db import open_store
from scratchlab.db.dialects import (
    in_memory,
    insert_ignoring_duplicates,
    lock_schema,
    page_problems,
    seconds_between,
    sqlite_path,
)
from scratchlab.db.engine import transaction

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def store(db_url):
    with open_store(db_url) as opened:
        yield opened


def calibration(probe_s: float) -> dict:
    return {
        "machine": "box",
        "threads": 2,
        "probe_s": probe_s,
        "measured_at": T0,
        "details_json": "{}",
    }


def test_a_duplicate_insert_keeps_the_first_row(store):
    key = ("machine", "threads")
    with transaction(store.engine, write=True) as conn:
        insert_ignoring_duplicates(conn, m.calibrations, calibration(1.0), key)
        insert_ignoring_duplicates(conn, m.calibrations, calibration(0.5), key)
    with store.read() as conn:
        assert conn.execute(select(m.calibrations.c.probe_s)).scalars().all() == [1.0]


def test_seconds_between_two_time_columns_is_computed_in_sql(store):
    sweep_id = store.create_sweep("s", [], {}, {})
    s = m.sweeps.c
    with transaction(store.engine, write=True) as conn:
        conn.execute(
            m.sweeps.update()
            .where(s.sweep_id == sweep_id)
            .values(started_at=T0, finished_at=T0 + timedelta(seconds=90.5))
        )
    with store.read() as conn:
        seconds = conn.execute(select(seconds_between(s.started_at, s.finished_at))).scalar_one()
    assert seconds == pytest.approx(90.5, abs=1e-3)


def test_a_sound_database_has_no_page_problems_and_locks_for_a_schema_change(store):
    with transaction(store.engine, write=True) as conn:
        lock_schema(conn)  # PostgreSQL's advisory lock; SQLite holds the file already
        assert page_problems(conn) == []


def test_which_urls_name_a_file_and_which_a_private_memory_database(tmp_path):
    assert sqlite_path(make_url(f"sqlite:///{tmp_path}/a.db")) == tmp_path / "a.db"
    assert sqlite_path(make_url("sqlite://")) is None
    assert in_memory(make_url("sqlite://")) and in_memory(make_url("sqlite:///:memory:"))
    assert not in_memory(make_url(f"sqlite:///{tmp_path}/a.db"))
    assert not in_memory(make_url("postgresql+psycopg://u@h/db"))
    assert sqlite_path(make_url("postgresql+psycopg://u@h/db")) is None
