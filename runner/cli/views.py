"""Read-only views of the results database: ``runner runs``, ``show``,
``compare``, ``export`` and ``report``.

None of these import torch; the database is opened read-only, and every
database problem or unknown id is one line on stderr with exit code 1.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from scratchlab.core.records import RUN_STATUSES
from scratchlab.runner.options import DB_ID, ROWS


def app_path() -> Path:
    """The Streamlit entry point ``runner report`` starts (``reports/server.py``: the app
    with its first imports done while the browser loads the page)."""
    import scratchlab.reports

    return Path(scratchlab.reports.__file__).resolve().parent / "server.py"


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """Turn a database error into a one-line ``click.ClickException`` (exit 1)."""
    from scratchlab.db import DatabaseError

    try:
        yield
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None


def read_store(state):
    """The results database of ``runner --db``, opened read-only."""
    from scratchlab.db import open_store

    with database_errors():
        return open_store(state.db_url, read_only=True)


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the run filters shared with the app (``--sweep``, ``--experiment``,
    ``--status``, ``--where``); the command receives them as one ``run_filter``."""

    @click.option(
        "--sweep",
        "sweep_ids",
        type=DB_ID,
        multiple=True,
        metavar="ID",
        help="Only runs of this sweep (repeatable).",
    )
    @click.option(
        "--experiment",
        "experiments",
        multiple=True,
        metavar="NAME",
        help="Only runs of this experiment (repeatable).",
    )
    @click.option(
        "--status",
        "statuses",
        type=click.Choice(RUN_STATUSES),
        multiple=True,
        help="Only runs with this status (repeatable).",
    )
    @click.option(
        "--where",
        "where",
        multiple=True,
        metavar="EXPR",
        help="Condition on a run column, component category, param, final metric or tag: "
        "name=a,b, name!=x, name<x, name<=x, name>x, name>=x (repeatable; e.g. matmul=torch, "
        "lr<0.1, valid_accuracy>=0.85, status!=failed, tag=best).",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, sweep_ids, experiments, statuses, where, **kwargs: Any) -> Any:
        from scratchlab.db.filters import FilterError, RunFilter, parse_where

        try:
            run_filter = parse_where(
                where, RunFilter(sweep_ids=sweep_ids, experiments=experiments, statuses=statuses)
            )
        except FilterError as exc:
            raise click.BadParameter(str(exc), param_hint="--where") from None
        return command(*args, run_filter=run_filter, **kwargs)

    return wrapper


#: a page width for output that is not a terminal and gave no COLUMNS: rows stay on one line
PIPED_WIDTH = 240


def _console(wide: bool = False):
    """The console tables are printed on: the terminal's width (``COLUMNS`` when set),
    a wide page when piped, no limit with ``--wide``."""
    import os

    from rich.console import Console

    if wide:
        return Console(soft_wrap=False, width=1_000_000)
    known = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(soft_wrap=False, width=None if known else PIPED_WIDTH)


def _echo_json(payload: Any) -> None:
    from scratchlab.reports.export import to_json_text

    click.echo(to_json_text(payload))


def formula_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--keep-formulas`` (CSV cells written as stored, not neutralised)."""
    return click.option(
        "--keep-formulas",
        is_flag=True,
        help="CSV: write text cells that begin with = + - @ tab or CR as stored. By default they "
        "get a leading ' so that a spreadsheet shows them instead of running them.",
    )(command)


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
      runner runs --experiment train --where valid_accuracy>=0.85 --sort valid_accuracy --desc
      runner runs --experiment matmul --where matmul=torch,einsum --columns run_id,matmul,5x784x10.median_s
      runner runs --where lr>=0.1 --where lr<=0.5 --json
      runner runs --stale          # results an edit to a plugin has made stale
    """
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    from scratchlab.db import summaries
    from scratchlab.db.filters import as_filter
    from scratchlab.db.rows import count_selected, experiment_counts, run_rows
    from scratchlab.reports import glance

    store = read_store(state)
    with database_errors():
        scope = as_filter(run_filter)
        notes: dict[int, str] = {}
        if stale:
            notes = _stale_notes(state, store, scope)
            scope = scope.narrowed(run_ids=sorted(notes))
        total = count_selected(store, scope)
        if as_json or as_csv:
            _print_records(
                *_records_page(
                    store,
                    scope,
                    notes if stale else None,
                    limit=limit,
                    offset=offset,
                    order_by=order_by,
                    descending=descending,
                ),
                as_json=as_json,
                keep_formulas=keep_formulas,
                envelope={"total": total, "offset": offset},
            )
            return
        # the table path reads plain rows: importing pandas would cost more than the query;
        # each experiment is paged on its own, so a long one does not hide the others
        pages = []
        for experiment, count in experiment_counts(store, scope):
            page = run_rows(
                store,
                scope.narrowed(experiments=[experiment]),
                limit=limit or None,
                offset=offset,
                order_by=order_by,
                descending=descending,
            )
            if stale:
                page.add("stale", [notes.get(run_id) for run_id in page.columns["run_id"]])
            pages.append((page, count))
        sweep_ids = [s for page, _ in pages for s in page.columns["sweep_id"]]
        run_ids = [r for page, _ in pages for r in page.columns["run_id"]]
        headlines = glance.stored_headlines(store, sweep_ids)
        noisy = summaries.noisy_timings(store, run_ids)
    # what the user sorts and filters by is what they want to see
    focus = [
        order_by,
        *(
            n
            for kind in ("fields", "metrics", "params", "columns")
            for n in getattr(run_filter, kind, {})
        ),
    ]
    _print_glance(
        pages,
        headlines,
        noisy,
        columns=columns,
        wide=wide,
        total=total,
        focus=focus,
        paging=(limit, offset),
    )


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


@click.command(name="compare")
@filter_options
@click.option(
    "--against",
    "against",
    type=DB_ID,
    metavar="SWEEP",
    help="Reference sweep: flag timings of --sweep that changed beyond noise against it.",
)
@click.option(
    "--by",
    "by",
    metavar="COLUMN",
    help="Rows per this component category (default: the one that varies); with --metrics,"
    " one row per its value over every other setting.",
)
@click.option(
    "--baseline", metavar="NAME", help="Speed-ups against this component (default: the slowest)."
)
@click.option(
    "--metrics",
    "metric_mode",
    is_flag=True,
    help="Compare final metrics per configuration instead of timings.",
)
@click.option(
    "--fail-on-regression", is_flag=True, help="With --against: exit 1 when anything got slower."
)
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON rows.")
@click.pass_obj
def runs_compare(
    state,
    run_filter,
    against: int | None,
    by: str | None,
    baseline: str | None,
    metric_mode: bool,
    fail_on_regression: bool,
    as_json: bool,
) -> None:
    """Compare runs in a torch.utils.benchmark-style table: one row per component,
    one column per shape, median ± IQR with the speed-up against a baseline; or,
    with --metrics, final metrics per configuration. Without --sweep, the newest sweep.

    \b
    Examples:
      runner compare --sweep 3 --baseline python
      runner compare --sweep 4 --against 3
      runner compare --sweep 5 --metrics
    """
    from scratchlab.reports import comparisons

    store = read_store(state)
    with database_errors():
        try:
            result = comparisons.build(
                store,
                run_filter,
                against=against,
                by=by,
                baseline=baseline,
                metric_mode=metric_mode,
            )
        except comparisons.NothingToCompare as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        _echo_json(result.payload())
    else:
        _console().print(result.renderable)
    if fail_on_regression and result.regressions:
        raise click.ClickException(f"{result.regressions} timing(s) got slower beyond noise")


@click.command(name="export")
@filter_options
@click.option(
    "--table",
    "table",
    type=click.Choice(["runs", "timings", "stats", "metrics"]),
    default="runs",
    show_default=True,
    help="Which table to export.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "json"]),
    default="csv",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (default: standard output; Parquet needs a file or a pipe).",
)
@formula_option
@click.pass_obj
def table_export(
    state, run_filter, table: str, fmt: str, output: Path | None, keep_formulas: bool
) -> None:
    """Export a results table (runs, timings, stats or metrics) of the filtered runs
    as CSV, Parquet or JSON; the runs table has a column per param and per final metric.

    \b
    Examples:
      runner export --table timings --sweep 3 -o timings.csv
      runner export --table metrics --experiment train --format parquet -o metrics.parquet
      runner export --table runs --status failed --format json
    """
    from scratchlab.reports.export import table_bytes
    from scratchlab.reports.tables import load_table, nan_is_missing

    if fmt == "parquet" and output is None and sys.stdout.isatty():
        raise click.UsageError("Parquet is binary: give -o FILE or pipe the output")
    store = read_store(state)
    with database_errors():
        frame = load_table(store, table, run_filter)
        missing = nan_is_missing(table, frame)
        if table == "runs":
            from scratchlab.reports.glance import with_final_metrics

            frame, names = with_final_metrics(store, frame)
            if fmt == "parquet":
                # a typed column: Arrow would store a None/float object column as text
                frame[names] = frame[names].astype(float)
    data = table_bytes(frame, fmt, missing, formulas=keep_formulas)
    if output is None:
        click.echo(data, nl=False)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"wrote {len(frame)} rows of {table} to {output}", err=True)


def streamlit_command(
    db_url: str, *, port: int | None, headless: bool, address: str | None
) -> list[str]:
    """The ``streamlit run`` command line that serves the app on ``db_url``."""
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path()),
        "--server.headless",
        "true" if headless else "false",
        # the app needs no network: no usage statistics
        "--browser.gatherUsageStats",
        "false",
    ]
    if port is not None:
        command += ["--server.port", str(port)]
    if address:
        command += ["--server.address", address]
    # the address to browse is given, not looked up: headless, Streamlit otherwise asks a web
    # service for the machine's external IP (a request leaving the machine, and up to 2 s)
    shown = address if address and address not in ("0.0.0.0", "::") else "localhost"
    command += ["--browser.serverAddress", shown]
    return [*command, "--", "--db", db_url]


#: Streamlit's port when none is given
STREAMLIT_PORT = 8501


def listen_problem(address: str, port: int | None) -> str | None:
    """Why the app could not listen on ``address`` (and ``port``, when given), or None.

    Tried with a socket bound and closed at once: Streamlit's own failure is a
    traceback printed after its start-up. Without a port only the address is
    tried, since Streamlit then moves on from a busy default port by itself.
    """
    import socket

    try:
        infos = socket.getaddrinfo(address, port or 0, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        return f"--address {address}: not an address of this machine ({exc})"
    family, kind, proto, _name, where = infos[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(where)
    except OSError as exc:
        port_text = f" port {port}" if port else ""
        return f"cannot listen on {address}{port_text}: {exc.strerror or exc}"
    return None


@click.command(name="report")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Port to serve on (default: Streamlit's, 8501)."
)
@click.option("--address", help="Address to listen on (default: Streamlit's).")
@click.option(
    "--no-browser", "headless", is_flag=True, help="Do not open a browser (headless server)."
)
@click.pass_obj
def report_serve(state, port: int | None, address: str | None, headless: bool) -> None:
    """Open the Streamlit report app on the database (read-only); Ctrl-C stops it.

    \b
    Examples:
      runner report
      runner --db sqlite:///results/runs.db report --port 8600 --no-browser
    """
    # a missing or foreign database is reported here, not in the browser
    read_store(state).close()
    if address and (problem := listen_problem(address, port)) is not None:
        raise click.ClickException(problem)
    command = streamlit_command(state.db_url, port=port, headless=headless, address=address)
    returncode = run_until_stopped(command)
    # stopped by Ctrl-C or a terminate signal: a normal end for a server
    if returncode not in (
        0,
        -signal.SIGINT,
        -signal.SIGTERM,
        128 + signal.SIGINT,
        128 + signal.SIGTERM,
    ):
        raise click.ClickException(f"streamlit exited with status {returncode}")


def run_until_stopped(command: list[str], grace_s: float = 10.0) -> int:
    """Run ``command`` until it exits; a SIGTERM sent to this process is passed on
    to it, and Ctrl-C stops it, so no server is left behind. Its exit status."""
    process = subprocess.Popen(command)

    def forward(signum, _frame) -> None:
        process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        return process.wait()
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the server too; make sure it is gone
        process.terminate()
        try:
            return process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
