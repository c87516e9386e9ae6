"""The report app's charts, from Python: ``sl.charts.<name>(results, ...)`` returns an
Altair chart (a notebook shows it inline).

Each function reads through a :class:`scratchlab.reading.Results` with the
same filters as ``results.runs(...)`` and hands the rows to the chart
builders the app's pages use (``scratchlab.reports.views``), so a chart
here is the app's chart::

    import scratchlab as sl

    results = sl.open("runs.db")
    sl.charts.layers(results, model="deep", value="std")   # the 100-layer std per init
    sl.charts.curves(results, "valid_accuracy", experiment="train")
    sl.charts.timings(results, experiment="matmul")
    sl.charts.importance(results, "valid_accuracy", experiment="train")  # the Analysis page's
    sl.charts.parallel(results, "valid_accuracy", ["init", "matmul"])
"""

from __future__ import annotations

from typing import Any


class NoData(ValueError):
    """The filtered runs recorded nothing this chart draws; the message says what is missing."""


def _results(results: Any):
    from scratchlab.reading import Results

    return results if isinstance(results, Results) else Results(results)


def _stored(results: Any, table: str, filters: dict[str, Any]):
    """A table as the app's views read it (times in seconds under their stored names,
    no component columns), not the notebook frame :class:`Results` makes of it."""
    from scratchlab.reading import run_filter
    from scratchlab.reports.tables import load_table

    return load_table(results.store, table, run_filter(**filters))


def layers(
    results: Any,
    *,
    model: str = "deep",
    value: str = "std",
    log: bool | None = None,
    **filters: Any,
):
    """Activation ``value`` (``mean``, ``std``, ``frac_zero``...) per layer of ``model``
    (``"deep"``: the 100-layer stack, ``"mlp"``, ``"conv"``), one line per init and a
    panel per activation: the Activations page's chart. ``std`` is on a log axis."""
    from scratchlab.reports.views import activations as views

    results = _results(results)
    stats = _stored(results, "stats", filters)
    stats = stats[stats["model"] == model]
    if stats.empty:
        raise NoData(
            f"no activation statistics of model {model!r} in these runs (run the init-stats experiment)"
        )
    runs = results.runs(**filters)
    runs = runs[runs["run_id"].isin(stats["run_id"])]  # the runs drawn name the lines
    final = views.final_stats(views.label_stats(stats, runs))
    return views.layer_chart(views.layer_profile(final), value, log=log)


#: points per run and metric a curve loads (the query down-samples longer histories)
MAX_POINTS = 2000


def curves(
    results: Any,
    name: str = "valid_accuracy",
    *,
    log: bool = False,
    clip: bool = True,
    **filters: Any,
):
    """Metric ``name`` against step (or epoch, for a metric recorded once per epoch),
    the mean over repeats per configuration with a confidence band: the Training
    page's chart, its configurations grouped by the page's rule
    (:func:`scratchlab.reports.lookups.training_curves`). ``clip`` keeps a
    diverging configuration from flattening the rest, as the page's toggle."""
    from scratchlab.db import queries
    from scratchlab.reading import run_filter
    from scratchlab.reports import lookups
    from scratchlab.reports.views import training as views

    results = _results(results)
    store, scope = results.store, run_filter(**filters)
    run_ids = [int(i) for i in queries.list_runs(store, scope)["run_id"]]
    found, over_epochs = lookups.training_curves(store, scope, run_ids, [name], MAX_POINTS)[name]
    if found.empty:
        raise NoData(f"no history of metric {name!r} in these runs")
    x_title = "epoch" if over_epochs else "step"
    return views.curve_chart(found, name, log=log, clip=clip, x_title=x_title)


def timings(results: Any, *, by: str | None = None, baseline: str | None = None, **filters: Any):
    """Median time per shape, one bar per ``by`` value (default: the component that
    varies) with the IQR, speed-ups against ``baseline`` in the tooltip: the Timings page's chart."""
    from scratchlab.reports.views import timings as views

    results = _results(results)
    frame = _stored(results, "timings", filters)
    if frame.empty:
        raise NoData("no timings in these runs (run the matmul experiment)")
    by = by or views.default_group(frame)
    summary = views.summarize(frame, by)
    if baseline is None:
        baseline = str(summary.groupby(by)["median"].median().idxmax())
    return views.timing_chart(views.with_speedup(summary, by, baseline), by)


def statuses(results: Any, sweep: int | None = None):
    """Runs per status of one sweep (default: the newest): the Sweeps page's chart."""
    from scratchlab.reports.views import sweeps as views

    results = _results(results)
    table = results.sweeps()
    if table.empty:
        raise NoData("the database has no sweeps yet")
    rows = table if sweep is None else table[table["sweep_id"] == int(sweep)]
    if rows.empty:
        raise NoData(f"no sweep {sweep} in {results!r}")
    row = rows.iloc[-1]
    return views.status_chart(views.status_counts(row.to_dict()))


def _analysis(results: Any, metric: str, filters: dict[str, Any]):
    """The Analysis page's table of ``metric`` (sampled past the page's limit, as there)."""
    from scratchlab.analysis import metric_table
    from scratchlab.reports.views import analysis as views

    table = metric_table(results, metric, max_runs=views.MAX_DRAWN, **filters)
    if table.empty:
        raise NoData(f"no finished run in these filters has a final {metric!r}")
    return table


def _dimensions(table, names: list[str] | None) -> list[str]:
    from scratchlab.reports.views import analysis as views

    chosen = views.varying(table, names)
    if not chosen:
        raise NoData("no category or param varies across these runs")
    return chosen


def importance(
    results: Any, metric: str = "valid_accuracy", *, direction: str | None = None, **filters: Any
):
    """Importance bars of every category and param for ``metric`` (Optuna's PED-ANOVA): the
    Analysis page's first chart. ``direction`` is ``"max"`` or ``"min"``."""
    from scratchlab.reports.importance import compute, direction_of
    from scratchlab.reports.views import analysis as views

    table = _analysis(results, metric, filters)
    return views.importance_chart(compute(table, direction=direction_of(metric, direction)))


def parallel(
    results: Any, metric: str = "valid_accuracy", names: list[str] | None = None, **filters: Any
):
    """Parallel coordinates: a line per run across ``names`` (default: every category and
    param that varies) to ``metric``, coloured by it: the Analysis page's chart."""
    from scratchlab.reports.views import analysis as views

    table = _analysis(results, metric, filters)
    return views.parallel_chart(table, _dimensions(table, names))


def slices(
    results: Any, metric: str = "valid_accuracy", names: list[str] | None = None, **filters: Any
):
    """``metric`` against each of ``names`` (default: every one that varies), a panel each."""
    from scratchlab.reports.views import analysis as views

    table = _analysis(results, metric, filters)
    return views.slice_chart(table, _dimensions(table, names))


def best_so_far(
    results: Any, metric: str = "valid_accuracy", *, direction: str | None = None, **filters: Any
):
    """The best ``metric`` so far against the trial number, a line per sweep (a search's
    progress; a grid's in its run order)."""
    from scratchlab.reports.importance import direction_of
    from scratchlab.reports.views import analysis as views

    table = _analysis(results, metric, filters)
    return views.best_chart(views.best_so_far(table, direction_of(metric, direction)), metric)


__all__ = [
    "NoData",
    "best_so_far",
    "curves",
    "importance",
    "layers",
    "parallel",
    "slices",
    "statuses",
    "timings",
]
