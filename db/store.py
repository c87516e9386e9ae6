"""The results database: ``open_store`` and :class:`Store`, its write path.

Each method is one transaction. :mod:`scratchlab.db.recording` fills the
transaction that stores a run's result; :mod:`scratchlab.db.params` gives a
planned run's ``params`` rows; read queries are in :mod:`scratchlab.db.queries`
and the modules beside it, reading through :meth:`Store.read`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.engine import URL

from scratchlab.core.records import RUN_STATUSES, SWEEP_STATUSES, PlannedRun, RunResult
from scratchlab.db import models as m
from scratchlab.db import recording
from scratchlab.db.bulk import insert_rows
from scratchlab.db.engine import describe, make_engine, parse_url, transaction
from scratchlab.db.errors import (
    InvalidValueError,
    ReadOnlyDatabaseError,
    RunNotFoundError,
    SweepNotFoundError,
)
from scratchlab.db.ownership import Owner
from scratchlab.db.params import PARAM_COLUMNS, param_rows
from scratchlab.db.recording import to_json
from scratchlab.db.schema import check_sqlite_file, check_writable, ensure_schema
from scratchlab.db.sqltypes import utcnow


def open_store(url: str | URL, read_only: bool = False) -> Store:
    """Open the results database at ``url``, creating it at the schema head if it is new.

    Refuses, with a one-line :class:`~scratchlab.db.errors.DatabaseError` and
    without writing anything, a database made by an older scratchlab (run
    ``runner db upgrade``), a newer one, one that is not ours, and a file that
    is not a SQLite database. ``read_only=True`` never creates or writes the
    database: a missing file is an error.
    """
    url = parse_url(url)
    check_sqlite_file(url, must_exist=read_only)
    engine = make_engine(url, read_only=read_only)
    try:
        ensure_schema(engine, read_only=read_only)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, read_only=read_only)


def _check_status(status: str, allowed: Sequence[str], what: str) -> None:
    if status not in allowed:
        raise InvalidValueError(
            f"unknown {what} status {status!r}; expected one of {', '.join(allowed)}"
        )


class Store:
    """A results database opened by :func:`open_store`: the write path and a few lookups.

    Read queries that return DataFrames are in :mod:`scratchlab.db.queries`.
    Usable as a context manager, which closes it.
    """

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"<Store {describe(self.engine.url)} {mode}>"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def check_writable(self) -> None:
        """Raise a one-line :class:`~scratchlab.db.errors.DatabaseError` unless the database is
        whole, at the schema head and holds every table (:func:`scratchlab.db.schema.check_writable`):
        what a sweep checks before its first write."""
        check_writable(self.engine)

    # -- transactions -------------------------------------------------------

    def _write(self):
        if self.read_only:
            raise ReadOnlyDatabaseError(
                f"{describe(self.engine.url)} was opened read-only; nothing was written"
            )
        return transaction(self.engine, write=True)

    def read(self):
        """A read transaction (a context manager yielding a connection): the store's
        public read interface for the query modules of :mod:`scratchlab.db`."""
        return transaction(self.engine)

    # -- sweeps -------------------------------------------------------------

    def create_sweep(
        self, name: str, argv: list[str], spec: dict, environment: dict, owner: Owner | None = None
    ) -> int:
        """Record a new sweep (status ``running``, started now, owned by ``owner`` with a
        heartbeat now: :mod:`scratchlab.db.ownership`); return its id."""
        with self._write() as conn:
            return conn.execute(
                insert(m.sweeps).returning(m.sweeps.c.sweep_id),
                {
                    "name": name,
                    "argv_json": to_json(list(argv)),
                    "spec_json": to_json(spec),
                    "environment_json": to_json(environment),
                    "status": "running",
                    "started_at": utcnow(),
                    **(owner.columns() if owner is not None else {}),
                },
            ).scalar_one()

    def finish_sweep(self, sweep_id: int, status: str) -> None:
        """Set a sweep's final status and finish time."""
        _check_status(status, SWEEP_STATUSES, "sweep")
        with self._write() as conn:
            result = conn.execute(
                update(m.sweeps)
                .where(m.sweeps.c.sweep_id == sweep_id)
                .values(status=status, finished_at=utcnow())
            )
            if result.rowcount == 0:
                raise SweepNotFoundError(f"no sweep {sweep_id} in {describe(self.engine.url)}")

    def reopen_sweep(self, sweep_id: int, environment: dict | None = None) -> None:
        """Mark a stored sweep ``running`` again, for ``runner sweep --resume``.

        ``environment``, when given, is appended to the sweep's environment
        under ``"resumed"``, so a resume on another machine or torch stays
        visible next to the environment the sweep started in.
        """
        with self._write() as conn:
            row = conn.execute(
                select(m.sweeps.c.environment_json).where(m.sweeps.c.sweep_id == sweep_id)
            ).one_or_none()
            if row is None:
                raise SweepNotFoundError(f"no sweep {sweep_id} in {describe(self.engine.url)}")
            values: dict[str, Any] = {"status": "running", "finished_at": None}
            if environment is not None:
                stored = json.loads(row.environment_json or "{}")
                stored.setdefault("resumed", []).append(environment)
                values["environment_json"] = to_json(stored)
            conn.execute(update(m.sweeps).where(m.sweeps.c.sweep_id == sweep_id).values(**values))

    def get_sweep(self, sweep_id: int) -> dict:
        """One sweep as a dict: its columns, with ``argv``, ``spec`` and ``environment`` decoded."""
        with self.read() as conn:
            row = (
                conn.execute(select(m.sweeps).where(m.sweeps.c.sweep_id == sweep_id))
                .mappings()
                .first()
            )
        if row is None:
            raise SweepNotFoundError(f"no sweep {sweep_id} in {describe(self.engine.url)}")
        return {
            "sweep_id": row["sweep_id"],
            "name": row["name"],
            "argv": json.loads(row["argv_json"]),
            "spec": json.loads(row["spec_json"]),
            "environment": json.loads(row["environment_json"]),
            "status": row["status"],
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
        }

    def sweep_runs(self, sweep_id: int) -> list[dict]:
        """Every run of a sweep (``run_id``, ``key``, ``experiment``, ``status``), for ``--resume``."""
        with self.read() as conn:
            self._require_sweep(conn, sweep_id)
            rows = conn.execute(
                select(m.runs.c.run_id, m.runs.c.key, m.runs.c.experiment, m.runs.c.status)
                .where(m.runs.c.sweep_id == sweep_id)
                .order_by(m.runs.c.run_id)
            ).mappings()
            return [dict(row) for row in rows]

    def _require_sweep(self, conn: Connection, sweep_id: int) -> None:
        found = conn.execute(
            select(m.sweeps.c.sweep_id).where(m.sweeps.c.sweep_id == sweep_id)
        ).first()
        if found is None:
            raise SweepNotFoundError(f"no sweep {sweep_id} in {describe(self.engine.url)}")

    # -- runs ---------------------------------------------------------------

    def add_runs(self, sweep_id: int, planned: list[PlannedRun]) -> dict[str, int]:
        """Record planned runs (status ``pending``) with their params; return key -> run id.

        Keys the sweep already has keep their run and params untouched (so a
        resumed sweep can pass its whole plan), and a key repeated in
        ``planned`` is added once.
        """
        new: dict[str, PlannedRun] = {}
        for run in planned:
            new.setdefault(run.key, run)
        with self._write() as conn:
            self._require_sweep(conn, sweep_id)
            ids: dict[str, int] = {}
            for keys in _chunks(list(new)):
                ids.update(
                    conn.execute(
                        select(m.runs.c.key, m.runs.c.run_id).where(
                            m.runs.c.sweep_id == sweep_id, m.runs.c.key.in_(keys)
                        )
                    ).all()
                )
            todo = [run for key, run in new.items() if key not in ids]
            if todo:
                run_params = [param_rows(run) for run in todo]  # validate before writing
                new_ids = (
                    conn.execute(
                        insert(m.runs).returning(m.runs.c.run_id, sort_by_parameter_order=True),
                        [
                            {
                                "sweep_id": sweep_id,
                                "key": run.key,
                                "experiment": run.experiment,
                                "device": run.device,
                                "dtype": run.dtype,
                                "seed": run.seed,
                                "repeat": run.repeat,
                                "status": "pending",
                            }
                            for run in todo
                        ],
                    )
                    .scalars()
                    .all()
                )
                insert_rows(
                    conn,
                    m.params,
                    PARAM_COLUMNS,
                    [
                        (run_id, *row)
                        for run_id, run_rows in zip(new_ids, run_params, strict=True)
                        for row in run_rows
                    ],
                )
                ids.update(zip((run.key for run in todo), new_ids, strict=True))
            return {key: ids[key] for key in new}

    def mark_running(self, run_ids: list[int]) -> None:
        """Mark runs as started now (clears an earlier finish time and reason)."""
        self._set_status(
            run_ids,
            {"status": "running", "started_at": utcnow(), "finished_at": None, "reason": None},
        )

    def mark_status(self, run_ids: list[int], status: str, reason: str | None = None) -> None:
        """Set runs' status and reason; a final status also sets the finish time, ``pending`` clears both times."""
        _check_status(status, RUN_STATUSES, "run")
        values: dict[str, Any] = {"status": status, "reason": reason}
        if status == "pending":
            values.update(started_at=None, finished_at=None)
        elif status != "running":
            values["finished_at"] = utcnow()
        self._set_status(run_ids, values)

    def _set_status(self, run_ids: Iterable[int], values: dict[str, Any]) -> None:
        run_ids = list(dict.fromkeys(run_ids))
        with self._write() as conn:
            found: set[int] = set()
            for chunk in _chunks(run_ids):
                conn.execute(update(m.runs).where(m.runs.c.run_id.in_(chunk)).values(**values))
                found.update(
                    conn.execute(
                        select(m.runs.c.run_id).where(m.runs.c.run_id.in_(chunk))
                    ).scalars()
                )
            missing = [run_id for run_id in run_ids if run_id not in found]
            if missing:
                # raising rolls the whole update back: no run changes when one id is wrong
                raise RunNotFoundError(
                    f"no run {', '.join(map(str, missing))} in {describe(self.engine.url)}"
                )

    def stream_metrics(self, run_id: int, metrics: list, *, first: bool) -> None:
        """Store a batch of metrics of a run that is still running (one transaction), and its
        final values so far. ``first`` (the run's first batch) drops what an earlier attempt
        of the run left; :meth:`write_result` with ``streamed=True`` then keeps the batches."""
        with self._write() as conn:
            recording.stream_metrics(conn, run_id, metrics, first=first)

    def write_result(self, run_id: int, result: RunResult, *, streamed: bool = False) -> None:
        """Store everything one run produced, in one transaction, replacing earlier results of that run.

        Either all of it is stored (status, reason, times, timings with
        their replicates, activation statistics, metrics) or, on any error,
        none of it, and the run keeps what it had. ``streamed``: the run's
        metrics so far came in batches (:meth:`stream_metrics`); they are
        kept and ``result.metrics`` holds only the ones that came after.
        """
        _check_status(result.status, RUN_STATUSES, "run")
        values: dict[str, Any] = {
            "status": result.status,
            "reason": result.reason,
            "finished_at": result.finished_at if result.finished_at is not None else utcnow(),
        }
        if result.started_at is not None:  # else keep the time mark_running recorded
            values["started_at"] = result.started_at
        with self._write() as conn:
            if not recording.write_result(conn, run_id, values, result, streamed=streamed):
                raise RunNotFoundError(f"no run {run_id} in {describe(self.engine.url)}")


def _chunks(items: list, size: int = 500) -> Iterable[list]:
    """Slices of ``items``: keeps ``IN (...)`` lists under every backend's parameter limit."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
