"""Runs at a glance: which columns answer "how did it go", one table per experiment.

``runner runs`` shows, for each experiment among the rows, the run id and
status, the components and params that vary among those rows, the
experiment's headline results (``Experiment.headline``: final-metric names
or glob patterns) and the duration; what is equal on every row is said once
in a footer. Columns come in priority order, so a narrow terminal drops the
least telling first (:func:`scratchlab.reports.terminal.fitted_table`).

The headlines of the experiments a sweep ran are stored in its spec (key
:data:`HEADLINES_KEY`) when it is planned, so reading them back needs no
plugin (and no torch); a sweep stored without them shows its final metrics
by name. Nothing here imports torch.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scratchlab.core.keys import HEADLINES_KEY
from scratchlab.db.filters import RUN_COLUMNS
from scratchlab.db.sqltypes import Damaged

if TYPE_CHECKING:
    from scratchlab.db.store import Store


#: columns every glance table starts with
FIRST: tuple[str, ...] = ("run_id", "status")

#: run columns shown (after the params) when they vary among the rows
VARYING_RUN_FIELDS: tuple[str, ...] = ("sweep_id", "device", "dtype", "seed", "repeat")

#: the column that shows how long a run took
DURATION = "duration"


def stored_headlines(store: Store, sweep_ids: Iterable[int]) -> dict[str, list[str]]:
    """The headline patterns stored in the specs of ``sweep_ids`` (the newest sweep
    wins where two disagree); one query."""
    from scratchlab.db.summaries import sweep_specs

    found: dict[str, list[str]] = {}
    for spec in sweep_specs(store, sweep_ids):
        headlines = spec.get(HEADLINES_KEY)
        if isinstance(headlines, dict):
            found.update(
                {str(k): [str(p) for p in v] for k, v in headlines.items() if isinstance(v, list)}
            )
    return found


def headline_columns(patterns: Sequence[str], metric_names: Iterable[str]) -> list[str]:
    """The metric columns ``patterns`` name, in pattern order (a glob's matches sorted);
    with no patterns (an experiment that declares none) every metric, sorted."""
    names = sorted(set(metric_names))
    if not patterns:
        return names
    chosen: list[str] = []
    for pattern in patterns:
        for name in (n for n in names if fnmatch.fnmatchcase(n, pattern)):
            if name not in chosen:
                chosen.append(name)
    return chosen


def with_final_metrics(store: Store, rows):
    """``rows`` of ``list_runs`` with one column per final metric of those runs (missing:
    None, a NaN value: NaN) and the names of the metric columns added."""
    import pandas as pd

    from scratchlab.db import queries

    ids = [int(i) for i in rows["run_id"]]
    finals = queries.final_metrics(store, run_ids=ids) if ids else None
    if finals is None or finals.empty:
        return rows, []
    frame = rows.copy()
    added = []
    for name, group in finals.groupby("name", sort=True):
        values = dict(zip(group["run_id"].astype(int), group["value"].astype(float)))
        column = name if name not in frame.columns else f"{name}_metric"
        frame[column] = pd.Series(
            [values.get(int(i)) for i in frame["run_id"]], index=frame.index, dtype=object
        )
        added.append(column)
    return frame, added


#: a table as glance reads it: column name -> one value per row, every column as long
Columns = Mapping[str, Sequence[Any]]


def columns_of(frame) -> dict[str, list[Any]]:
    """A DataFrame as :data:`Columns` (what :func:`glance_tables` takes)."""
    return {column: frame[column].tolist() for column in frame.columns}


@dataclass
class Glance:
    """One experiment's table: ``columns`` holds its rows' values of the chosen
    columns, in priority order; ``positions`` the rows' positions in the table it
    was cut from; ``constant`` the columns equal on every row, as text."""

    experiment: str
    columns: dict[str, list[Any]]
    constant: dict[str, str] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    #: columns that must stay (the user named them, or the run id and status)
    required: tuple[str, ...] = FIRST
    positions: list[int] = field(default_factory=list)
    #: what a row is, for the footer ("3 runs"); default: runs when there is a run id
    noun: str = ""
    #: rows there are in all when only some are shown ("50 of 79 runs"), and how to see more
    total: int | None = None
    more: str = ""

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), ()))


def _text(value: Any) -> str:
    from scratchlab.reports.terminal import cell
    from scratchlab.reports.views.common import is_missing

    # numbers as the tables print them: a param column with gaps is float, 100.0 reads 100
    return "" if is_missing(value) else cell(value)


def _first_value(column) -> str:
    return next((text for text in map(_text, column) if text), "")


def _varies(column) -> bool | None:
    """True when the values differ, False when all are equal, None when all are missing.

    Rows without a value do not count: a component's param (``leaky-relu.slope``)
    is missing wherever another component ran, which the component column says.
    """
    texts = {_text(v) for v in column}
    texts.discard("")
    if not texts:
        return None
    return len(texts) > 1


def glance_tables(
    table: Columns,
    metric_names: Sequence[str],
    headlines: Mapping[str, Sequence[str]],
    *,
    categories: Sequence[str],
    columns: Sequence[str] | None = None,
    wide: bool = False,
    focus: Sequence[str] = (),
) -> list[Glance]:
    """Split ``table`` (``list_runs`` rows with final metrics as columns, as
    :data:`Columns`: see :func:`columns_of` and :func:`scratchlab.db.rows.run_rows`)
    into one :class:`Glance` per experiment, in the order experiments first appear.

    Columns: :data:`FIRST`, the varying components (``categories``, in that
    order), the headline metrics, the duration, the varying params and run
    fields; ``wide`` adds every other column; ``columns`` (names) replaces the
    choice by exactly those that exist. ``focus`` names (what the user sorts and
    filters by) come right after the run id and status, so they are the last to go.
    """
    tables = []
    for experiment in dict.fromkeys(table["experiment"]):
        positions = [i for i, e in enumerate(table["experiment"]) if e == experiment]
        rows = shown_rows(table, positions)
        present = [c for c in rows if c not in RUN_COLUMNS and c not in (DURATION, "error")]
        metrics = [c for c in metric_names if c in present and any(map(_text, rows[c]))]
        if columns:
            chosen = [c for c in columns if c in rows]
            shown, constant, required = chosen, {}, tuple(chosen)
        else:
            params = [c for c in present if c not in metric_names and _varies(rows[c]) is not None]
            declared = headlines.get(experiment, ())
            shown, constant = _telling_columns(rows, metrics, params, declared, categories, focus)
            if wide:
                shown, constant = _every_column(rows, shown, metrics, constant), {}
            required = FIRST
        tables.append(
            Glance(
                experiment,
                {c: rows[c] for c in shown},
                constant=constant,
                metrics=metrics,
                required=required,
                positions=positions,
            )
        )
    return tables


def shown_rows(table: Columns, positions: Sequence[int]) -> dict[str, list[Any]]:
    """The rows of ``table`` at ``positions`` as a glance shows them: a
    :data:`DURATION` column (a damaged stored time in place of the seconds, so the
    row says so), an ``error`` column (the reason's summary) and the status with
    :func:`shown_status`."""
    from scratchlab.reports.views.common import error_summary

    rows = {c: [values[i] for i in positions] for c, values in table.items()}
    rows[DURATION] = [
        next((t for t in times if isinstance(t, Damaged)), seconds)
        for seconds, *times in zip(
            rows["duration_s"], rows["started_at"], rows["finished_at"], strict=True
        )
    ]
    rows["error"] = [error_summary(reason) for reason in rows["reason"]]
    rows["status"] = [shown_status(s, r) for s, r in zip(rows["status"], rows["reason"])]
    return rows


def _telling_columns(
    rows: Columns,
    metrics: Sequence[str],
    params: Sequence[str],
    declared: Sequence[str],
    categories: Sequence[str],
    focus: Sequence[str],
) -> tuple[list[str], dict[str, str]]:
    """``(columns, constant)`` of one experiment's glance, in priority order: :data:`FIRST`,
    the ``focus`` names, the varying components, the headline metrics (``declared``
    patterns) and the duration, the other varying params, the run fields that vary and,
    when a run has one, the error; ``constant`` holds the components and params equal on
    every row, as text."""
    components = [c for c in categories if c in params]
    others = [c for c in params if c not in components]
    headline = headline_columns(declared, metrics)
    constant = {
        c: _first_value(rows[c]) for c in (*components, *others) if _varies(rows[c]) is False
    }
    varying = [c for c in VARYING_RUN_FIELDS if _varies(rows[c])]
    # without a declared headline every metric is one, so the duration goes first
    results = [*headline, DURATION] if declared else [DURATION, *headline]
    order = [
        *(c for c in components if c not in constant),
        *results,
        *(c for c in others if c not in constant),
        *varying,
    ]
    wanted = [c for c in focus if c in rows and c not in FIRST and c not in RUN_COLUMNS[:1]]
    order = [*FIRST, *dict.fromkeys([*wanted, *order])]
    if any(rows["error"]):
        order.append("error")
    return order, constant


def _every_column(
    rows: Columns, order: list[str], metrics: Sequence[str], constant: Mapping[str, str]
) -> list[str]:
    """``order`` followed by every other metric, constant and run column of ``rows``
    (``--wide``), but the experiment (the table's title) and the raw seconds (the
    duration shows them)."""
    rest = [c for c in (*metrics, *constant, *RUN_COLUMNS) if c not in order and c in rows]
    return [*order, *(c for c in rest if c not in ("experiment", "duration_s"))]


def config_summaries(
    frame,
    metric_names: Sequence[str],
    headlines: Mapping[str, Sequence[str]],
    *,
    categories: Sequence[str],
    wide: bool = False,
    by: str | None = None,
):
    """``runner compare --metrics``: per experiment, one row per configuration (the
    varying components and params; with ``by``, per value of that one column, over
    every other setting) with its number of runs and ``mean ± std`` of each
    headline metric (every metric with ``wide``) over its repeats.

    Returns ``(glances, numbers)``: a :class:`Glance` per experiment for the terminal,
    and one frame of every experiment's rows with ``<metric> mean``/``<metric> std``
    columns for JSON.
    """
    import pandas as pd

    glances, numbers = [], []
    for table in glance_tables(
        columns_of(frame), metric_names, headlines, categories=categories, wide=False
    ):
        shown_metrics = table.metrics if wide else [c for c in table.columns if c in table.metrics]
        config = [by] if by is not None else configuration_columns(table)
        source = frame.iloc[table.positions]
        shown, stats = _configuration_rows(source, config, shown_metrics, table.experiment)
        display = {c: [row.get(c, "") for row in shown] for c in [*config, "runs", *shown_metrics]}
        glances.append(
            Glance(
                table.experiment,
                display,
                constant=table.constant,
                metrics=list(shown_metrics),
                required=tuple(config[:1]),
            )
        )
        numbers.append(pd.DataFrame(stats))
    return glances, (pd.concat(numbers, ignore_index=True) if numbers else pd.DataFrame())


def configuration_columns(table: Glance) -> list[str]:
    """The columns of a run glance that say which configuration a run is: the varying
    components and params (not the run's id, status, duration, error, metrics or the
    run fields that vary between its repeats)."""
    return [
        c
        for c in table.columns
        if c not in (*FIRST, DURATION, "error", *table.metrics, *VARYING_RUN_FIELDS)
    ]


def _configuration_rows(source, config: list[str], metrics: Sequence[str], experiment: str):
    """``(shown, numbers)``: per configuration (the distinct texts of the ``config``
    columns of ``source``'s rows; one for all when there are none), a row for the
    terminal (its settings, ``runs`` and ``mean ± std`` text of each metric) and one
    for JSON (``experiment``, a ``config`` label, and ``<metric> mean``/``std`` numbers)."""
    import pandas as pd

    keys = source[config].map(_text) if config else pd.DataFrame(index=source.index)
    groups = keys.groupby(config, sort=False, dropna=False) if config else [((), keys)]
    shown, numbers = [], []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        text_row = dict(zip(config, key, strict=True)) | {"runs": len(group)}
        label = ", ".join(f"{c}={v}" for c, v in zip(config, key, strict=True) if v) or experiment
        number_row = {"experiment": experiment, "config": label, **text_row}
        for c in metrics:
            values = pd.to_numeric(source.loc[group.index, c], errors="coerce")
            mean, std = values.mean(), values.std()
            number_row |= {f"{c} mean": mean, f"{c} std": std}
            text_row[c] = _mean_std_text(mean, std)
        shown.append(text_row)
        numbers.append(number_row)
    return shown, numbers


def _mean_std_text(mean: float, std: float) -> str:
    """``mean ± std`` as a table cell: empty without a mean, the mean alone without a std."""
    if mean != mean:  # NaN: no run has a value
        return ""
    return _text(mean) + ("" if std != std else f" ± {std:.2g}")


def shown_status(status: Any, reason: Any) -> Any:
    """A run's status as its row shows it: ``done, diverged`` for a run that finished
    but whose training diverged (its note starts with ``DIVERGED_NOTE``), so a
    narrow table that leaves out the error column still says so."""
    from scratchlab.core.keys import DIVERGED_NOTE

    if status == "done" and isinstance(reason, str) and reason.startswith(DIVERGED_NOTE):
        return "done, diverged"
    return status


def available_columns(table: Columns) -> list[str]:
    """Every column ``--columns`` can name for ``table``."""
    return [*table, DURATION, "error"]


def plan_glances(rows: Sequence[Mapping[str, Any]], label: Any = str) -> list[Glance]:
    """``runner sweep --dry-run``'s plan (rows of ``experiment``, ``plugin``,
    ``components``, ``params``, ``device``, ``dtype``, ``seed``, ``repeat``) as one
    table per experiment, by the rule of ``runner runs``: the position ``#``, then the
    components, params and run fields that vary; what every run shares is said once
    below. ``label`` names an experiment's plugin in the title (empty: not named)."""
    tables = []
    for experiment in dict.fromkeys(row["experiment"] for row in rows):
        mine = [(i, row) for i, row in enumerate(rows, 1) if row["experiment"] == experiment]
        columns: dict[str, list[Any]] = {"#": [i for i, _ in mine]}
        for kind in ("components", "params"):
            names = dict.fromkeys(name for _, row in mine for name in row[kind])
            columns |= {name: [row[kind].get(name) for _, row in mine] for name in names}
        columns |= {f: [row[f] for _, row in mine] for f in ("device", "dtype", "seed", "repeat")}
        constant = {c: _first_value(v) for c, v in columns.items() if c != "#" and not _varies(v)}
        plugin = label(mine[0][1]["plugin"])
        tables.append(
            Glance(
                f"{experiment} (plugin {plugin})" if plugin else experiment,
                {c: v for c, v in columns.items() if c not in constant},
                constant={c: v for c, v in constant.items() if v},
                required=("#",),
                noun="run",
            )
        )
    return tables
