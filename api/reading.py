"""Reading results from Python: ``sl.open(...)`` and its :class:`Results`.

A :class:`Results` opens the database read-only (like ``runner runs``; it
never writes, so it is safe beside a running sweep) and answers with pandas
DataFrames. Its filters are the command line's: ``sweep``, ``experiment``,
``status`` and ``where`` (``"lr>=0.1"``, ``"matmul=torch,einsum"``, a list
of such, or a dict ``{"lr": (0.1, None)}``)::

    import scratchlab as sl

    results = sl.open("runs.db")
    results.runs(experiment="train", sort="valid_accuracy", desc=True)
    results.activations(sweep=3, model="deep")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

#: a filter value: one item, several, or None for "no restriction"
Many = Any

#: the timings columns that hold seconds: ``timings()`` names them ``<column>_s``
SECONDS_COLUMNS: tuple[str, ...] = ("median", "iqr", "mean", "min", "max")


def database_url(db: str | os.PathLike | None = None) -> str:
    """A SQLAlchemy URL from a URL, a SQLite file path, or None (``SCRATCHLAB_DB``,
    else ``runs.db`` in the working directory): :func:`scratchlab.db.engine.resolve_url`."""
    from scratchlab.db.engine import resolve_url

    return resolve_url(db)


def _many(value: Many, cast=str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str | int):
        return (cast(value),)
    return tuple(cast(v) for v in value)


def run_filter(
    sweep: Many = None,
    experiment: Many = None,
    status: Many = None,
    where: Any = None,
    tag: Many = None,
):
    """The command line's run filter from Python values: ``sweep`` ids, ``experiment``
    and ``status`` names (one or several), ``where`` as ``runner runs --where`` takes it
    (``"valid_accuracy>=0.85"``, a list of such expressions, or a dict of name ->
    value, list of values or ``(low, high)`` range, on params and final metrics alike),
    ``tag``: runs with any of these tags (their own or their sweep's)."""
    from scratchlab.db.filters import RunFilter, parse_where

    base = RunFilter(
        sweep_ids=_many(sweep, int),
        experiments=_many(experiment),
        statuses=_many(status),
        tags=_many(tag),
    )
    if where is None:
        return base
    if isinstance(where, Mapping):
        return base.narrowed(fields=dict(where))
    return parse_where([where] if isinstance(where, str) else list(where), base)


class Results:
    """A results database, opened read-only; every method returns a DataFrame
    (``run`` a dict). Close it with :meth:`close` or use it in a ``with`` block."""

    def __init__(self, db: str | os.PathLike | None = None) -> None:
        from scratchlab.db import open_store

        self.url = database_url(db)
        self._store = open_store(self.url, read_only=True)

    def __repr__(self) -> str:
        from scratchlab.db.engine import describe, parse_url

        return f"<scratchlab results {describe(parse_url(self.url))}>"

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def store(self):
        """The read-only :class:`~scratchlab.db.store.Store` these results read through."""
        return self._store

    def close(self) -> None:
        """Release the database connection."""
        self._store.close()

    def sweeps(self):
        """Every sweep, oldest first: name, status, times, command and its runs per status."""
        from scratchlab.db import queries

        return queries.list_sweeps(self._store)

    def runs(
        self,
        sweep: Many = None,
        experiment: Many = None,
        status: Many = None,
        where: Any = None,
        *,
        tag: Many = None,
        sort: str = "run_id",
        desc: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ):
        """The runs that pass the filters, one row each: the run's columns, one column
        per param and component choice, then one column per final metric (the
        value at the last step; NaN where a run has none). With ``experiment``, only
        the params and metrics those runs have (a mixed database's other experiments'
        columns left out). ``sort`` is a run column, a param or a final metric name,
        as ``runner runs --sort``; ``tag`` keeps runs with any of these tags."""
        from scratchlab.db import queries
        from scratchlab.reports.glance import with_final_metrics
        from scratchlab.reports.views.common import param_columns

        rows = queries.list_runs(
            self._store,
            run_filter(sweep, experiment, status, where, tag),
            limit=limit,
            offset=offset,
            order_by=sort,
            descending=desc,
        )
        frame, names = with_final_metrics(self._store, rows)
        for name in names:
            frame[name] = frame[name].astype(
                float
            )  # None (no such metric) becomes NaN, as pandas users expect
        if experiment is not None:
            # another experiment's params and metrics: columns no row of these has
            empty = [c for c in (*param_columns(rows), *names) if frame[c].isna().all()]
            frame = frame.drop(columns=empty)
        return frame

    def timings(
        self, sweep: Many = None, experiment: Many = None, status: Many = None, where: Any = None
    ):
        """Timings of the runs that pass the filters, one row per timed operation, with
        each run's component choices: times in seconds (``median_s``, ``iqr_s``,
        ``mean_s``, ``min_s``, ``max_s``, as ``runs()`` names them), ``flops`` and
        ``gflops``."""
        frame = self._table("timings", sweep, experiment, status, where)
        return frame.rename(columns={c: f"{c}_s" for c in SECONDS_COLUMNS})

    def activations(
        self,
        sweep: Many = None,
        experiment: Many = None,
        status: Many = None,
        where: Any = None,
        *,
        model: Many = None,
    ):
        """Per-layer activation statistics (mean, std, min, max, fraction zero and
        non-finite, per step where recorded) of the filtered runs, with each run's
        component choices as columns (``acts.groupby("init")``); ``model`` narrows
        to ``"mlp"``, ``"deep"``, ``"conv"``..."""
        frame = self._table("stats", sweep, experiment, status, where)
        models = _many(model)
        frame = frame[frame["model"].isin(models)].reset_index(drop=True) if models else frame
        return self._with_components(frame)

    def metrics(
        self,
        sweep: Many = None,
        experiment: Many = None,
        status: Many = None,
        where: Any = None,
        *,
        name: Many = None,
    ):
        """Metric histories (``run_id, name, step, value``, then each run's component
        choices as columns) of the filtered runs; ``name`` narrows to some metrics
        (``"train_loss"``)."""
        frame = self._table("metrics", sweep, experiment, status, where)
        names = _many(name)
        frame = frame[frame["name"].isin(names)].reset_index(drop=True) if names else frame
        return self._with_components(frame)

    def run(self, run_id: int) -> dict[str, Any]:
        """Everything about one run: its columns, ``components``, ``params``,
        ``timings`` and ``stats`` (DataFrames), ``metrics`` (final values), ``reason``."""
        from scratchlab.db import queries

        return queries.run_summary(self._store, int(run_id))

    def _with_components(self, frame):
        """``frame`` (one row per run's record) with a column per component category
        of its runs; ``attrs["categories"]`` names them, as on a timings frame."""
        from scratchlab.db.results import join_wide, params_wide

        ids = sorted({int(i) for i in frame["run_id"]})
        if not ids:
            return frame
        return join_wide(frame, params_wide(self._store, ids, components_only=True), "_component")

    def _table(self, table: str, *filters: Any):
        from scratchlab.reports.tables import load_table

        return load_table(self._store, table, run_filter(*filters))


def open(
    db: str | os.PathLike | None = None,
) -> Results:  # shadows the builtin inside this module only: sl.open is the API
    """Open a results database read-only: a SQLite file path, any SQLAlchemy URL,
    or None for the command line's (``SCRATCHLAB_DB``, else ``runs.db``)."""
    return Results(db)
