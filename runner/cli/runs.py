"""``runner runs``: the stored runs as a table, one experiment at a time, and
``runner show``: one run in full.

Neither imports torch; the database is opened read-only.
"""

from __future__ import annotations

from typing import Any

import click

from scratchlab.runner.cli.common import (
    _console,
    _echo_json,
    database_errors,
    filter_options,
    formula_option,
    read_store,
)
from scratchlab.runner.options import DB_ID, ROWS


@click.command(name="runs")
@filter_options
@click.option(
    "--limit",
    type=ROWS,
    default=50,
    show_default=True,
    help="Most rows per experiment (0: all); with --json or --csv, most rows in all.",
)
@click.option(
    "--offset",
    type=ROWS,
    default=0,
    help="Skip this many rows first (of each experiment; with --json or --csv, of all).",
)
@click.option(
    "--sort",
    "order_by",
    default="run_id",
    show_default=True,
    metavar="NAME",
    help="Sort by a run column (run_id, status, duration_s, ...), a param (lr, matmul, ...) "
    "or a final metric (valid_accuracy, ...).",
)
@click.option("--desc", "descending", is_flag=True, help="Sort in descending order.")
@click.option(
    "--columns",
    "columns",
    metavar="A,B,...",
    help="Show exactly these columns (run columns, params, final metrics, duration, error).",
)
@click.option("--wide", is_flag=True, help="Show every column, however wide the table gets.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: {total, offset, runs: [...]}, each run with its params and final metrics.",
)
@click.option(
    "--csv", "as_csv", is_flag=True, help="Print CSV of the rows, with params and final metrics."
)
@formula_option
@click.option(
    "--stale",
    is_flag=True,
    help="Only runs made by code that has changed since (a component's version differs from the "
    "installed one, or it is no longer installed), with what changed. Loads the plugins.",
)
@click.pass_obj
def runs_list(
    state,
    run_filter,
    limit: int,
    offset: int,
    order_by: str,
    descending: bool,
    columns: str | None,
    wide: bool,
    as_json: bool,
    as_csv: bool,
    keep_formulas: bool,
    stale: bool,
) -> None:
    """List runs: one table per experiment, with the components and params that
    vary, the experiment's headline results and the duration; what every row
    shares is said once below the table. Columns that do not fit the terminal
    are left out (named below the table); --wide shows them all.

    \b
    Examples:
      runner runs --sweep 3 --status failed
      runner runs --experiment train --where valid_accuracy>=0.85
        --sort valid_accuracy --desc
      runner runs --experiment matmul --where matmul=torch,einsum
        --columns run_id,matmul,5x784x10.median_s
      runner runs --where lr>=0.1 --where lr<=0.5 --json
      runner runs --stale          # results an edit to a plugin has made stale
    """
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    from scratchlab.db.filters import as_filter
    from scratchlab.db.rows import count_selected

    store = read_store(state)
    paging = {"limit": limit, "offset": offset, "order_by": order_by, "descending": descending}
    with database_errors():
        scope = as_filter(run_filter)
        notes = _stale_notes(state, store, scope) if stale else None
        if notes is not None:
            scope = scope.narrowed(run_ids=sorted(notes))
        total = count_selected(store, scope)
        if as_json or as_csv:
            _print_records(
                *_records_page(store, scope, notes, **paging),
                as_json=as_json,
                keep_formulas=keep_formulas,
                envelope={"total": total, "offset": offset},
            )
            return
        pages = _experiment_pages(store, scope, notes, **paging)
        headlines, noisy = _table_lookups(store, pages)
    _print_glance(
        pages,
        headlines,
        noisy,
        columns=columns,
        wide=wide,
        total=total,
        focus=_focus(order_by, run_filter),
        paging=(limit, offset),
    )


def _experiment_pages(store, scope, notes: dict[int, str] | None, *, limit: int, **page: Any):
    """``(rows, runs of that experiment)`` per experiment in ``scope``, each experiment
    paged on its own (so a long one does not hide the others), with the --stale notes."""
    from scratchlab.db.rows import experiment_counts, run_rows

    # the table path reads plain rows: importing pandas would cost more than the query
    pages = []
    for experiment, count in experiment_counts(store, scope):
        rows = run_rows(
            store, scope.narrowed(experiments=[experiment]), limit=limit or None, **page
        )
        if notes is not None:
            rows.add("stale", [notes.get(run_id) for run_id in rows.columns["run_id"]])
        pages.append((rows, count))
    return pages


def _table_lookups(store, pages) -> tuple[dict[str, list[str]], dict[int, set[str]]]:
    """What the tables of ``pages`` show besides the rows: the headline results their
    sweeps declared, and which of their runs have noisy timings."""
    from scratchlab.db import summaries
    from scratchlab.reports import glance

    sweep_ids = [s for page, _ in pages for s in page.columns["sweep_id"]]
    run_ids = [r for page, _ in pages for r in page.columns["run_id"]]
    return glance.stored_headlines(store, sweep_ids), summaries.noisy_timings(store, run_ids)


def _focus(order_by: str, run_filter) -> list[str]:
    """The columns a table must show: what the user sorts and filters by is what they
    want to see."""
    return [
        order_by,
        *(
            n
            for kind in ("fields", "metrics", "params", "columns")
            for n in getattr(run_filter, kind, {})
        ),
    ]


def _stale_notes(state, store, scope) -> dict[int, str]:
    """``{run_id: what changed}`` of the runs in ``scope`` made by code that has changed since."""
    from scratchlab.db import queries
    from scratchlab.runner.staleness import stale_components, stale_notes

    versions = queries.component_versions(store, scope)
    return stale_notes(stale_components(versions, state.plugins.registry))


def _records_page(store, scope, notes: dict[int, str] | None, **page: Any):
    """One page of runs as a DataFrame with every column (``--json``/``--csv``) and
    the columns whose NaN means "not recorded"."""
    from scratchlab.db import queries
    from scratchlab.reports import glance
    from scratchlab.reports.tables import nan_is_missing

    rows = queries.list_runs(store, scope, limit=page.pop("limit") or None, **page)
    missing = nan_is_missing("runs", rows)
    frame, _names = glance.with_final_metrics(store, rows)
    if notes is not None:
        frame["stale"] = frame["run_id"].map(notes)
    return frame, missing


def _print_records(
    frame,
    nan_is_missing: list[str],
    *,
    as_json: bool,
    keep_formulas: bool,
    envelope: dict[str, Any],
) -> None:
    """``runner runs --json`` / ``--csv``: every column of every row."""
    from scratchlab.reports.export import records, table_bytes

    if as_json:
        _echo_json({**envelope, "runs": records(frame, nan_is_missing)})
    else:
        click.echo(
            table_bytes(frame, "csv", nan_is_missing, formulas=keep_formulas).decode(), nl=False
        )


def _more_hint(experiment: str, shown: int, count: int, limit: int, offset: int) -> str:
    """How to see the runs of ``experiment`` a page left out: the next page's options."""
    from scratchlab.core.textsafe import printable

    if count <= offset + shown or not limit:
        return ""
    name = printable(experiment)
    return f"next: --experiment {name} --offset {offset + limit}; all: --limit 0"


def _print_glance(
    pages,
    headlines,
    noisy,
    *,
    columns: str | None,
    wide: bool,
    total: int,
    focus: list[str],
    paging: tuple[int, int],
) -> None:
    """The tables of ``runner runs``, one per experiment, fitted to the terminal.
    ``pages``: ``(rows, runs of that experiment)`` per experiment (rows: a
    :class:`scratchlab.db.rows.RunRows`); ``paging``: the ``(limit, offset)`` each got."""
    from scratchlab.core.textsafe import printable
    from scratchlab.reports import glance
    from scratchlab.reports.terminal import fitted_table

    chosen = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    shown = sum(len(page) for page, _ in pages)
    if chosen and shown:
        known = {
            c for page, _ in pages if len(page) for c in glance.available_columns(page.columns)
        }
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise click.BadParameter(
                f"no column {', '.join(map(printable, unknown))} among these runs",
                param_hint="--columns",
            )
    console = _console(wide)
    if not shown:
        console.print(f"0 of {total} runs")
        return
    limit, offset = paging
    for page, count in pages:
        if not len(page):
            continue
        for table in glance.glance_tables(
            page.columns,
            page.metrics,
            headlines,
            categories=page.categories,
            columns=chosen,
            wide=wide,
            focus=focus,
        ):
            if "stale" in table.columns and not chosen:
                table.required = (*table.required, "stale")
            table.total = count
            table.more = _more_hint(table.experiment, len(table), count, limit, offset)
            console.print(fitted_table(table, console, noisy, fit=not wide))
    if total != shown or len(pages) > 1:
        hint = "" if total == shown else " (--limit 0 shows every run)"
        console.print(f"{shown} of {total} runs{hint}", highlight=False)


@click.command(name="show")
@click.argument("run_id", type=DB_ID)
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@click.pass_obj
def run_show(state, run_id: int, as_json: bool) -> None:
    """Show one run: what ran (params, components), its timings, a summary of its
    activation statistics, its metrics and its error or skip reason.

    \b
    Examples:
      runner show 12
      runner show 12 --json
    """
    from scratchlab.db import queries
    from scratchlab.reports.views.detail import run_detail

    store = read_store(state)
    with database_errors():
        detail = run_detail(queries.run_summary(store, run_id))
    if as_json:
        _echo_json(detail.payload())
        return
    from scratchlab.reports.terminal import detail_renderables

    _console().print(detail_renderables(detail))
