"""Which categories and params matter to a metric, from Python: ``sl.importance(...)``.

The same numbers as ``runner importance`` and the app's Analysis page::

    import scratchlab as sl

    sl.importance("runs.db", "valid_accuracy", experiment="train")
    sl.importance(sl.open(), "valid_loss", direction="min", where="optimizer=adam,sgd")
"""

from __future__ import annotations

import dataclasses
from typing import Any


def metric_table(results: Any, metric: str, *, max_runs: int | None = None, **filters: Any):
    """The runs that pass ``filters`` (``sweep``, ``experiment``, ``status``, ``where``, ``tag``)
    with a final ``metric``: one row each, ``value`` the metric, one column per category and
    param (see :func:`scratchlab.db.analysis.metric_table`). Only finished runs count unless
    ``status`` is given; past ``max_runs``, a fixed-seed sample (``attrs["sampled"]``)."""
    from scratchlab.db.analysis import metric_table as table
    from scratchlab.reading import Results, run_filter

    results = results if isinstance(results, Results) else Results(results)
    scope = run_filter(**filters)
    if not scope.statuses:
        scope = dataclasses.replace(scope, statuses=("done",))
    return table(results._store, metric, scope, max_runs=max_runs)


def importance(
    results: Any,
    metric: str = "valid_accuracy",
    *,
    direction: str | None = None,
    evaluator: str = "ped-anova",
    **filters: Any,
):
    """How much each component category and param of the filtered runs matters to
    ``metric``: a DataFrame ``name, kind, importance`` (summing to 1, most important first)
    from Optuna's importance evaluator (``"ped-anova"`` or ``"fanova"``). ``direction``
    is ``"max"`` or ``"min"`` (default: min for a loss, an error or a time). ``attrs``:
    ``fixed`` (what every run shared), ``runs``, ``metric``, ``direction``. Raises
    :class:`~scratchlab.reports.importance.ImportanceError` when too few runs or nothing varies."""
    from scratchlab.reports.importance import compute, direction_of

    table = metric_table(results, metric, **filters)
    result = compute(table, direction=direction_of(metric, direction), evaluator=evaluator)
    frame = result.frame()
    frame.attrs.update(
        fixed=result.fixed, runs=result.runs, metric=metric, direction=result.direction
    )
    return frame


__all__ = ["importance", "metric_table"]
