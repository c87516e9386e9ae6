"""Read query over the activation histograms the ``telemetry`` experiment records.

One row per run, model, layer and step, with the bin counts decoded from their
compact JSON into a list of ints (see ``activation_histograms`` in
:mod:`scratchlab.db.models`). Re-exported by :mod:`scratchlab.db.queries`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd
from sqlalchemy import select

from scratchlab.db import models as m
from scratchlab.db import recording
from scratchlab.db.filters import RunFilter, as_filter
from scratchlab.db.scope import run_ids_in
from scratchlab.db.store import Store

#: the columns of the table :func:`activation_histograms` returns: those stored (one list, in
#: :mod:`scratchlab.db.recording`), with the bin counts decoded under the name ``counts``
HISTOGRAM_COLUMNS = [
    "counts" if column == "counts_json" else column for column in recording.HISTOGRAM_COLUMNS
]
_COUNTS = recording.HISTOGRAM_COLUMNS.index("counts_json")


def activation_histograms(
    store: Store,
    run_filter: RunFilter | None = None,
    *,
    run_ids: Iterable[int] | int | None = None,
    sweep_ids: Iterable[int] | int | None = None,
    layers: Iterable[str] | str | None = None,
) -> pd.DataFrame:
    """The histograms of the runs ``run_filter`` selects, ordered by run, model, layer and step.

    ``layers`` keeps those layer names. ``counts`` is a list of ints per row, one per
    equal-width bin from ``lo`` to ``hi``; ``step`` is a nullable int.
    """
    scope = as_filter(run_filter, run_ids=run_ids, sweep_ids=sweep_ids)
    h = m.activation_histograms.c
    with store.read() as conn:
        clauses = run_ids_in(conn, h.run_id, scope)
        if layers is not None:
            clauses.append(h.name.in_([layers] if isinstance(layers, str) else list(layers)))
        stmt = (
            select(*(h[column] for column in recording.HISTOGRAM_COLUMNS))
            .where(*clauses)
            .order_by(h.run_id, h.model, h.layer, h.step)
        )
        rows = [
            (*r[:_COUNTS], json.loads(r[_COUNTS]), *r[_COUNTS + 1 :]) for r in conn.execute(stmt)
        ]
    table = pd.DataFrame.from_records(rows, columns=HISTOGRAM_COLUMNS)
    table["step"] = table["step"].astype("Int64")
    return table
