"""What the report app asks the database besides the read queries: where a
page finds its data by default (pure logic over
:func:`scratchlab.db.catalog.data_coverage`); how far the results have got is
:func:`scratchlab.db.summaries.data_version`, which keys the app's query cache."""

from __future__ import annotations

from collections.abc import Iterable


def data_scope(
    store,
    kind: str,
    *,
    sweep_ids: Iterable[int] | None = None,
    experiments: Iterable[str] | None = None,
) -> tuple[list[int], list[str]]:
    """Where a page finds data of ``kind`` (``timings``, ``stats`` or ``curves``) by default.

    With ``sweep_ids``: all of them, and the experiments (within ``experiments``
    when given) that recorded such data in any. Without: the newest sweep that
    has any, and its experiments that do. ``([], [])`` when nothing has any.
    """
    from scratchlab.db import catalog

    chosen = [int(s) for s in sweep_ids or ()]
    coverage = catalog.data_coverage(store, kind, sweep_ids=chosen or None)
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


def training_curves(
    store, run_filter, run_ids: list[int], names: list[str], max_points: int
) -> dict:
    """The Training page's curves, computed once per data version (the app caches this
    call): per metric name, ``(curves, over_epochs)`` with ``curves`` the
    :func:`~scratchlab.reports.views.training.aggregate_repeats` frame (steps turned
    into epochs for a per-epoch metric) of the runs ``run_ids``."""
    from scratchlab.db import queries
    from scratchlab.reports.views import training as views

    runs = queries.list_runs(store, run_filter, run_ids=run_ids)
    points = queries.metrics(
        store, run_ids=run_ids, names=sorted({*names, views.EPOCH_MARKER}), max_points=max_points
    )
    epochs = views.epoch_steps(points)
    labels = views.config_labels(runs)  # once for every metric
    result = {}
    for name in names:
        over_epochs = views.per_epoch(points, name, epochs)
        of_metric = points[points["name"] == name]
        curves = views.as_epochs(of_metric, epochs) if over_epochs else of_metric
        result[name] = (views.aggregate_repeats(curves, runs, labels=labels), over_epochs)
    return result


def gradcheck_grid(store, run_filter, limit: int) -> tuple:
    """The Checks page's data, computed once per data version (the app caches this
    call): ``(grid, sweep_id)`` with ``grid`` the
    :func:`~scratchlab.reports.views.checks.gradcheck_grid` of the newest ``limit``
    gradcheck runs ``run_filter`` selects, narrowed to the newest sweep that has any
    when the filter names no sweep (``sweep_id`` then; else None)."""
    from scratchlab.db import queries
    from scratchlab.reports.views import checks

    runs = queries.list_runs(
        store, run_filter, limit=limit, order_by="run_id", descending=True, with_metrics=True
    )
    newest = None
    if not run_filter.sweep_ids and not runs.empty:
        newest = int(runs["sweep_id"].max())
        runs = runs[runs["sweep_id"] == newest]
    return (checks.gradcheck_grid(runs) if not runs.empty else None), newest


def analysis(
    store, metric: str, run_filter, max_runs: int, direction: str, evaluator: str = "ped-anova"
) -> tuple:
    """The Analysis page's data, computed once per data version (the app caches this call):
    ``(table, importance, problem)``: the :func:`~scratchlab.db.analysis.metric_table` of
    ``metric`` (sampled past ``max_runs``), its
    :class:`~scratchlab.reports.importance.Importance` and, when none can be computed,
    the one-line reason instead."""
    from scratchlab.db.analysis import metric_table
    from scratchlab.reports.importance import ImportanceError, compute

    table = metric_table(store, metric, run_filter, max_runs=max_runs)
    try:
        return table, compute(table, direction=direction, evaluator=evaluator), None
    except ImportanceError as exc:
        return table, None, str(exc)


def metric_names(store, run_filter) -> list[str]:
    """The final metrics the runs of ``run_filter`` recorded (the Analysis page's choices)."""
    from scratchlab.db.analysis import metric_names as names

    return names(store, run_filter)


def tag_names(store) -> list[str]:
    """Every tag on a run or a sweep (the sidebar's tag filter)."""
    from scratchlab.db.annotations import tag_names as names

    return names(store)


def search_sweeps(store, sweep_ids: list[int]) -> list[int]:
    """Which of ``sweep_ids`` are searches (their stored spec names a search method)."""
    found = []
    for sweep_id in sweep_ids:
        spec = store.get_sweep(int(sweep_id)).get("spec") or {}
        if spec.get("search"):
            found.append(int(sweep_id))
    return found


def experiment_counts(store, run_filter=None, sweep_ids=None) -> list[tuple[str, int]]:
    """``(experiment, runs)`` that ``run_filter`` selects, in the order experiments first
    ran (the Runs page shows one experiment at a time); ``sweep_ids`` is in the filter."""
    from scratchlab.db.rows import experiment_counts as counts

    return counts(store, run_filter)


def sweep_headlines(store, sweep_ids: tuple[int, ...]) -> dict[str, list[str]]:
    """The headline patterns the experiments of ``sweep_ids`` declared when planned."""
    from scratchlab.reports.glance import stored_headlines

    return stored_headlines(store, sweep_ids)
