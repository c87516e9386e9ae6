"""Where a report page finds its data by default: pure logic over
:func:`scratchlab.db.queries.data_coverage`."""

from __future__ import annotations

from collections.abc import Iterable


def data_scope(store, kind: str, *, sweep_ids: Iterable[int] | None = None,
               experiments: Iterable[str] | None = None) -> tuple[list[int], list[str]]:
    """Where a page finds data of ``kind`` (``timings``, ``stats`` or ``curves``) by default.

    With ``sweep_ids``: all of them, and the experiments (within ``experiments``
    when given) that recorded such data in any. Without: the newest sweep that
    has any, and its experiments that do. ``([], [])`` when nothing has any.
    """
    from scratchlab.db import queries

    chosen = [int(s) for s in sweep_ids or ()]
    coverage = queries.data_coverage(store, kind, sweep_ids=chosen or None)
    wanted = set(experiments or ())
    if wanted:
        coverage = coverage[coverage["experiment"].isin(wanted)]
    if coverage.empty:
        return [], []
    if not chosen:
        newest = int(coverage["sweep_id"].max())
        coverage = coverage[coverage["sweep_id"] == newest]
        chosen = [newest]
    return chosen, sorted(set(coverage["experiment"]))
