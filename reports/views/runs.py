"""Runs page logic: paging through a filtered runs table and preparing a page for display."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scratchlab.reports.views.common import (
    RUN_COLUMNS,
    error_summary,
    is_missing,
    param_columns,
    text_value,
)

#: run columns ``list_runs`` can order by (it sorts by any param name too)
SORTABLE: tuple[str, ...] = (
    "run_id",
    "sweep_id",
    "experiment",
    "status",
    "device",
    "seed",
    "repeat",
    "started_at",
    "finished_at",
    "duration_s",
)

#: rows per page offered by the Runs page
PAGE_SIZES: tuple[int, ...] = (10, 50, 100, 500)


def page_count(total: int, page_size: int) -> int:
    """Pages needed for ``total`` rows, at least one (an empty table is one empty page)."""
    return max(1, math.ceil(total / page_size))


def page_offset(page: int, total: int, page_size: int) -> int:
    """Offset of 1-based ``page``, clamped to the pages that exist."""
    page = min(max(1, page), page_count(total, page_size))
    return (page - 1) * page_size


def metric_columns(runs, params) -> list[str]:
    """The final-metric columns of a ``list_runs(..., with_metrics=True)`` frame:
    those that are neither run columns nor among the ``params`` names."""
    known = set(RUN_COLUMNS) | set(params) | {f"{p}_param" for p in params}
    return [c for c in runs.columns if c not in known]


def runs_display(runs, metrics=()):
    """A page of ``list_runs`` rows as shown: run columns first (the final-metric
    columns ``metrics`` right after the status, where they are seen without
    scrolling), then one column per param (values as text, so lists and mixed types
    display the same everywhere), the error's telling line in ``error`` and the full
    reason left out (it is shown per run)."""
    import pandas as pd

    frame = runs.copy()
    params = param_columns(frame)
    for column in params:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            # missing (a param of another experiment) stays missing, not the text "NaN";
            # an object column keeps None (a text column would turn it back into NaN)
            values = [None if is_missing(v) else text_value(v) for v in frame[column]]
            frame[column] = pd.Series(values, index=frame.index, dtype=object)
    frame["error"] = frame["reason"].map(error_summary)
    first = [c for c in RUN_COLUMNS if c not in ("key", "reason", "finished_at")]
    shown = [c for c in metrics if c in frame.columns]
    at = first.index("status") + 1
    params = [c for c in params if c not in shown]
    return frame[[*first[:at], *shown, *first[at:], *params, "error"]]


@dataclass
class RunsView:
    """One experiment's page of runs as the Runs page shows it, by the rule of
    ``runner runs`` (:func:`scratchlab.reports.glance.glance_tables`): ``frame`` has
    the run id and status, the varying components, the headline results, the
    duration, the varying params and run fields, then the columns the user chose;
    ``constant`` what every row shares; ``more`` the columns a user can add."""

    frame: Any
    constant: dict[str, str]
    more: list[str]


def runs_view(rows, metrics, headlines, *, chosen=(), focus=()) -> RunsView:
    """:class:`RunsView` of a page of ``list_runs(..., with_metrics=True)`` rows of one
    experiment; ``metrics`` the final-metric columns, ``headlines`` the stored
    headline patterns, ``chosen`` the extra columns picked, ``focus`` what is sorted
    and filtered by (shown first)."""
    import pandas as pd

    from scratchlab.reports import glance
    from scratchlab.reports.filters import category_columns

    display = runs_display(rows, metrics)
    table = glance.columns_of(rows)
    # one experiment's rows: one table (an empty page has none, and shows no columns)
    tables = glance.glance_tables(
        table, metrics, headlines, categories=category_columns(rows), focus=focus
    )
    shown = tables[0] if tables else glance.Glance("", {c: [] for c in glance.FIRST})
    # a column once, even when it is both sorted by and shown anyway (duration_s)
    order = list(
        dict.fromkeys(
            "duration_s" if c == glance.DURATION else c
            for c in shown.columns
            if c == glance.DURATION or c in display.columns
        )
    )
    extra = [c for c in display.columns if c not in order]
    order += [c for c in chosen if c in extra]
    return RunsView(
        pd.DataFrame(display[order]), dict(shown.constant), [c for c in extra if c not in order]
    )
