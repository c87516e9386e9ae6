"""What ``runner compare`` computes: a benchmark-style timing table with
speed-ups, a regression check of one sweep against another, or final metrics
per configuration. Each result renders with rich and serialises to JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from scratchlab.db.filters import RUN_COLUMNS, RunFilter


class NothingToCompare(Exception):
    """The chosen runs have nothing of the asked kind; the message says what to do."""


@dataclass
class Comparison:
    """A finished comparison: ``table`` holds the rows, ``renderable`` the terminal view."""

    kind: str  # "timings", "regressions" or "metrics"
    sweep_ids: list[int]
    table: Any
    renderable: Any
    by: str | None = None
    baseline: str | None = None
    against: int | None = None
    regressions: int = 0
    warnings: list[str] = field(default_factory=list)
    environment_differences: Any = None

    def payload(self) -> dict[str, Any]:
        """The JSON form: what was compared and one object per table row (times in seconds)."""
        from scratchlab.reports.export import records

        table = self.table.drop(columns=[c for c in ("replicates",) if c in self.table.columns])
        payload = {
            "kind": self.kind,
            "sweeps": self.sweep_ids,
            "by": self.by,
            "baseline": self.baseline,
            "against": self.against,
            "regressions": self.regressions,
            "warnings": self.warnings,
            "rows": records(table),
        }
        if self.environment_differences is not None:
            payload["environment_differences"] = records(self.environment_differences)
        return payload


def newest_sweep(store) -> list[int]:
    """The newest sweep's id as a one-item list (empty for an empty database)."""
    from scratchlab.db import queries

    sweeps = queries.list_sweeps(store)
    return [] if sweeps.empty else [int(sweeps["sweep_id"].max())]


def _sweep_names(sweep_ids: list[int]) -> str:
    return ", ".join(f"#{s}" for s in sweep_ids)


def _metrics(store, run_filter: RunFilter, wide: bool = False, by: str | None = None) -> Comparison:
    """Final metrics per configuration, one table per experiment (H5: reports.glance);
    with ``by``, one row per value of that column, over every other setting."""
    from rich.console import Group

    from scratchlab.db import queries
    from scratchlab.reports import glance
    from scratchlab.reports.filters import category_columns
    from scratchlab.reports.terminal import Fitted

    runs = queries.list_runs(store, run_filter)
    frame, names = glance.with_final_metrics(store, runs)
    if not names:
        raise NothingToCompare(
            f"no final metrics in sweep {_sweep_names(list(run_filter.sweep_ids))} for these filters"
        )
    if by is not None and by not in frame.columns:
        choices = [c for c in frame.columns if c not in (*RUN_COLUMNS, *names)]
        raise NothingToCompare(f"cannot compare by {by!r}; choose one of {', '.join(choices)}")
    headlines = glance.stored_headlines(store, frame["sweep_id"])
    tables, summary = glance.config_summaries(
        frame, names, headlines, categories=category_columns(frame), wide=wide, by=by
    )
    return Comparison(
        "metrics", list(run_filter.sweep_ids), summary, Group(*(Fitted(t) for t in tables)), by=by
    )


def _summary(store, run_filter: RunFilter, by: str | None):
    from scratchlab.db import queries
    from scratchlab.reports.views.timings import component_columns, default_group, summarize

    timings = queries.timings(store, run_filter)
    if timings.empty:
        raise NothingToCompare(
            f"sweep {_sweep_names(list(run_filter.sweep_ids))} has no timings for these filters; "
            "use --metrics to compare final metrics"
        )
    by = by or default_group(timings)
    if by not in timings.columns:
        choices = ["label", *component_columns(timings)]
        raise NothingToCompare(f"cannot compare by {by!r}; choose one of {', '.join(choices)}")
    replicates = queries.timing_replicates(store, [int(t) for t in timings["timing_id"]])
    return by, summarize(timings, by, replicates)


def build(
    store,
    run_filter: RunFilter,
    *,
    against: int | None = None,
    by: str | None = None,
    baseline: str | None = None,
    metric_mode: bool = False,
) -> Comparison:
    """Compare the runs passing ``run_filter`` (the newest sweep when it names none).

    With ``metric_mode``: final metrics per configuration. With ``against``: the
    timings against that reference sweep, changes beyond noise flagged. Otherwise:
    median ± IQR per ``by`` and shape with speed-ups against ``baseline``
    (default: the slowest). Raises :class:`NothingToCompare` when there is nothing.
    """
    if not run_filter.sweep_ids:
        run_filter = replace(run_filter, sweep_ids=tuple(newest_sweep(store)))
        if not run_filter.sweep_ids:
            raise NothingToCompare("the database has no sweeps yet")
    for sweep_id in run_filter.sweep_ids:
        store.get_sweep(sweep_id)  # no such sweep: its one-line database error, not "no timings"
    if metric_mode:
        return _metrics(store, run_filter, by=by)
    by, summary = _summary(store, run_filter, by)
    if against is not None:
        return _regressions(store, run_filter, against, by, summary)
    return _timings(run_filter, by, summary, baseline)


def _regressions(store, run_filter: RunFilter, against: int, by: str, summary) -> Comparison:
    """The timings of ``summary`` (those of ``run_filter``, grouped ``by``) against
    those of sweep ``against``: changes beyond noise flagged, rows with noisy timings
    left unjudged, and a warning when the two sweeps ran in different environments."""
    from scratchlab.reports.timing_tables import regression_table
    from scratchlab.reports.views.timings import compare_sweeps, environment_differences

    sweep_ids = list(run_filter.sweep_ids)
    reference_sweep = store.get_sweep(against)  # unknown id: a one-line database error
    reference = replace(run_filter, sweep_ids=(against,))
    _, before = _summary(store, reference, by)
    differences = environment_differences(
        reference_sweep.get("environment"), store.get_sweep(sweep_ids[0]).get("environment")
    )
    comparison, noisy = _unjudged_noisy(
        compare_sweeps(before, summary, by), store, by, run_filter, reference
    )
    warnings = []
    if noisy:
        warnings.append(
            f"{noisy} row(s) involve noisy timings (measured on a busy machine) and are not"
            " judged; measure them again with runner sweep --retry-noisy"
        )
    if not differences.empty:
        warnings.append(
            "the two sweeps ran in different environments: "
            + "; ".join(f"{r.key}: {r.before} -> {r.after}" for r in differences.itertuples())
        )
    table = regression_table(
        comparison, by, before=f"sweep #{against}", after=f"sweep {_sweep_names(sweep_ids)}"
    )
    return Comparison(
        "regressions",
        sweep_ids,
        comparison,
        _with_warnings(table, warnings),
        by=by,
        against=against,
        regressions=int((comparison["change"] == "slower").sum()),
        warnings=warnings,
        environment_differences=differences,
    )


def _timings(run_filter: RunFilter, by: str, summary, baseline: str | None) -> Comparison:
    """``summary`` (grouped ``by``) as a benchmark table with speed-ups against the
    ``baseline`` value of ``by`` (default: the slowest by its median of medians)."""
    from scratchlab.reports.timing_tables import benchmark_table
    from scratchlab.reports.views.timings import with_speedup

    sweep_ids = list(run_filter.sweep_ids)
    values = [str(v) for v in summary[by].dropna().unique()]
    if baseline is None:
        baseline = str(summary.groupby(by)["median"].median().idxmax())
    elif baseline not in values:
        raise NothingToCompare(
            f"no {by} named {baseline!r} in these timings; choose one of {', '.join(sorted(values))}"
        )
    summary = with_speedup(summary, by, baseline)
    table = benchmark_table(
        summary,
        by,
        baseline=baseline,
        title=f"sweep {_sweep_names(sweep_ids)}: median time ± IQR per {by} and shape",
    )
    return Comparison("timings", sweep_ids, summary, table, by=by, baseline=baseline)


def _unjudged_noisy(comparison, store, by: str, *run_filters: RunFilter):
    """``comparison`` with ``change`` set to ``noisy`` on every row where either sweep has a
    ``noisy`` timing (so ``--fail-on-regression`` never fails on them), and how many rows that is."""
    from scratchlab.db import queries
    from scratchlab.reports.views.timings import summarize

    noisy_rows = comparison["change"] != comparison["change"]  # all False, same index
    for run_filter in run_filters:
        timings = queries.timings(store, run_filter)
        if "quality" not in timings.columns or not (timings["quality"] == "noisy").any():
            continue
        groups = summarize(timings[timings["quality"] == "noisy"], by)
        keys = [c for c in comparison.columns if c in groups.columns]
        marked = comparison[keys].merge(
            groups[keys].drop_duplicates(), on=keys, how="left", indicator=True
        )
        noisy_rows |= (marked["_merge"] == "both").to_numpy()
    comparison = comparison.copy()
    comparison.loc[noisy_rows, "change"] = "noisy"
    return comparison, int(noisy_rows.sum())


def _with_warnings(table, warnings: list[str]):
    from rich.console import Group
    from rich.text import Text

    return Group(*(Text(f"warning: {w}", style="yellow") for w in warnings), table)
