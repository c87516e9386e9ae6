"""The write path: ``open_store`` and :class:`Store`.

Each method is one transaction. Results go in as one bulk insert per table
(:func:`scratchlab.db.bulk.insert_rows`: a Core ``insert()`` run with the
driver's ``executemany``), never row by row: the write benchmark
(``benchmarks/db_write.py``) holds this path to at least half the speed of raw
``sqlite3`` doing the same inserts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy.engine import URL

from scratchlab.core.records import (
    DETERMINISTIC_PARAM,
    RUN_STATUSES,
    SWEEP_STATUSES,
    THREADS_PARAM,
    PlannedRun,
    RunResult,
)
from scratchlab.db import models as m
from scratchlab.db.bulk import insert_rows
from scratchlab.db.engine import describe, make_engine, parse_url, transaction
from scratchlab.db.errors import (
    InvalidValueError,
    ReadOnlyDatabaseError,
    RunNotFoundError,
    SweepNotFoundError,
)
from scratchlab.db.final import FINAL_COLUMNS, final_rows, refresh
from scratchlab.db.ownership import Owner
from scratchlab.db.params import COMPONENT, EXPERIMENT, encode
from scratchlab.db.quality import settle
from scratchlab.db.schema import check_sqlite_file, check_writable, ensure_schema
from scratchlab.db.sqltypes import utcnow

PARAM_COLUMNS = ("run_id", "name", "kind", "value_text", "value_num", "version")
STAT_COLUMNS = (
    "run_id",
    "model",
    "layer",
    "name",
    "step",
    "mean",
    "std",
    "min",
    "max",
    "frac_zero",
    "frac_nonfinite",
)
METRIC_COLUMNS = ("run_id", "name", "step", "value")
HISTOGRAM_COLUMNS = (
    "run_id",
    "model",
    "layer",
    "name",
    "step",
    "lo",
    "hi",
    "counts_json",
    "frac_near_zero",
)


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


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


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
                    "argv_json": _json(list(argv)),
                    "spec_json": _json(spec),
                    "environment_json": _json(environment),
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
                values["environment_json"] = _json(stored)
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
                param_rows = [_param_rows(run) for run in todo]  # validate before writing
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
                        for run_id, run_rows in zip(new_ids, param_rows, strict=True)
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
            if first:
                _delete_results(conn, run_id)
            insert_rows(
                conn,
                m.metrics,
                METRIC_COLUMNS,
                [(run_id, p.name, p.step, p.value) for p in metrics],
            )
            refresh(conn, run_id)

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
            updated = conn.execute(UPDATE_RUN, {"target_run_id": run_id, **values})
            if updated.rowcount == 0:
                raise RunNotFoundError(f"no run {run_id} in {describe(self.engine.url)}")
            for statement in DELETE_RESULTS if not streamed else DELETE_ALL_BUT_METRICS:
                conn.execute(statement, {"run_id": run_id})
            _insert_timings(conn, run_id, result)
            insert_rows(
                conn,
                m.activation_stats,
                STAT_COLUMNS,
                [
                    (
                        run_id,
                        s.model,
                        s.layer,
                        s.name,
                        s.step,
                        s.mean,
                        s.std,
                        s.min,
                        s.max,
                        s.frac_zero,
                        s.frac_nonfinite,
                    )
                    for s in result.stats
                ],
            )
            insert_rows(
                conn,
                m.metrics,
                METRIC_COLUMNS,
                [(run_id, p.name, p.step, p.value) for p in result.metrics],
            )
            # the final value of each metric beside its history: filters and sorts on it are index scans
            if streamed:
                refresh(conn, run_id)
            else:
                insert_rows(
                    conn, m.final_metrics, FINAL_COLUMNS, final_rows(run_id, result.metrics)
                )
            insert_rows(
                conn,
                m.activation_histograms,
                HISTOGRAM_COLUMNS,
                [
                    # counts as compact JSON: one row per layer and step, not one per bin
                    (
                        run_id,
                        h.model,
                        h.layer,
                        h.name,
                        h.step,
                        h.lo,
                        h.hi,
                        json.dumps(h.counts, separators=(",", ":")),
                        h.frac_near_zero,
                    )
                    for h in result.histograms
                ],
            )


def _chunks(items: list, size: int = 500) -> Iterable[list]:
    """Slices of ``items``: keeps ``IN (...)`` lists under every backend's parameter limit."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _param_rows(run: PlannedRun) -> list[tuple]:
    """The params rows of one planned run (``PARAM_COLUMNS`` after ``run_id``):
    its experiment and component choices with their versions, then its parameters."""
    rows = [(EXPERIMENT, EXPERIMENT, run.experiment, None, run.component_versions.get(EXPERIMENT))]
    rows += [
        (category, COMPONENT, name, None, run.component_versions.get(category))
        for category, name in run.components.items()
    ]
    for name, value in run.params.items():
        if name in run.components or name == EXPERIMENT:
            raise InvalidValueError(
                f"run {run.key}: param {name!r} has the name of a component category; rename the param"
            )
        kind, text, number = encode(name, value)
        rows.append((name, kind, text, number, None))
    # the thread count is a run setting like the device: a row, so it can be filtered on
    # (a sweep resolves auto before storing; only a PlannedRun made by hand leaves it None)
    if run.threads is not None and THREADS_PARAM not in run.params:
        rows.append((THREADS_PARAM, *encode(THREADS_PARAM, run.threads), None))
    if run.deterministic and DETERMINISTIC_PARAM not in run.params:
        rows.append((DETERMINISTIC_PARAM, *encode(DETERMINISTIC_PARAM, True), None))
    return rows


def _delete_statements(keep: tuple = ()):
    # built once: constructing statements per call cost more than running them
    timing_ids = (
        select(m.timings.c.timing_id)
        .where(m.timings.c.run_id == bindparam("run_id"))
        .scalar_subquery()
    )
    yield delete(m.timing_replicates).where(m.timing_replicates.c.timing_id.in_(timing_ids))
    for table in (
        m.timings,
        m.activation_stats,
        m.metrics,
        m.final_metrics,
        m.activation_histograms,
    ):
        if table not in keep:
            yield delete(table).where(table.c.run_id == bindparam("run_id"))


DELETE_RESULTS = tuple(_delete_statements())
#: a run whose metrics came in batches while it ran keeps them when its result is written
DELETE_ALL_BUT_METRICS = tuple(_delete_statements(keep=(m.metrics, m.final_metrics)))
UPDATE_RUN = update(m.runs).where(m.runs.c.run_id == bindparam("target_run_id"))
INSERT_TIMINGS = insert(m.timings).returning(m.timings.c.timing_id, sort_by_parameter_order=True)


def _delete_results(conn: Connection, run_id: int) -> None:
    for statement in DELETE_RESULTS:
        conn.execute(statement, {"run_id": run_id})


def _insert_timings(conn: Connection, run_id: int, result: RunResult) -> None:
    if not result.timings:
        return
    settle(conn, result.timings)  # the verdicts against this machine's stored quiet probe figure
    rows = [
        {
            "run_id": run_id,
            "label": t.label,
            "shape": t.shape,
            "n": len(t.replicates),
            "number_per_run": t.number_per_run,
            "median": t.median,
            "iqr": t.iqr,
            "mean": t.mean,
            "min": t.min,
            "max": t.max,
            "flops": t.flops,
            "threads": t.threads,
            "quality": t.quality,
            "quality_json": None if t.evidence is None else _json(t.evidence),
        }
        for t in result.timings
    ]
    # one multi-row INSERT ... RETURNING, ids in the order of the rows
    timing_ids = conn.execute(INSERT_TIMINGS, rows).scalars().all()
    insert_rows(
        conn,
        m.timing_replicates,
        ("timing_id", "replicate", "seconds"),
        [
            (timing_id, index, seconds)
            for timing_id, t in zip(timing_ids, result.timings, strict=True)
            for index, seconds in enumerate(t.replicates)
        ],
    )
