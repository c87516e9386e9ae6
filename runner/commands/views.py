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

from scratchlab.db.records import RUN_STATUSES


def app_path() -> Path:
    """The Streamlit entry point ``runner report`` starts (``reports/app.py``)."""
    import scratchlab.reports

    return Path(scratchlab.reports.__file__).resolve().parent / "app.py"


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

    @click.option("--sweep", "sweep_ids", type=int, multiple=True, metavar="ID", help="Only runs of this sweep (repeatable).")
    @click.option("--experiment", "experiments", multiple=True, metavar="NAME", help="Only runs of this experiment (repeatable).")
    @click.option("--status", "statuses", type=click.Choice(RUN_STATUSES), multiple=True,
                  help="Only runs with this status (repeatable).")
    @click.option("--where", "where", multiple=True, metavar="EXPR",
                  help="Param condition: name=value, name=a,b, name>=x or name<=x (repeatable; "
                  "components by category, e.g. matmul=torch).")
    @functools.wraps(command)
    def wrapper(*args: Any, sweep_ids, experiments, statuses, where, **kwargs: Any) -> Any:
        from scratchlab.reports.filters import FilterError, RunFilter, parse_where

        try:
            params = parse_where(where)
        except FilterError as exc:
            raise click.BadParameter(str(exc), param_hint="--where") from None
        run_filter = RunFilter(sweep_ids=sweep_ids, experiments=experiments, statuses=statuses, params=params)
        return command(*args, run_filter=run_filter, **kwargs)

    return wrapper


def _console():
    from rich.console import Console

    # piped output gets a wide page, so tables keep one line per row instead of 80 columns
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 240)


def _echo_json(payload: Any) -> None:
    from scratchlab.reports.export import to_json_text

    click.echo(to_json_text(payload))


@click.command(name="runs")
@filter_options
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="Most rows to show (0: all).")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many rows first.")
@click.option("--sort", "order_by", default="run_id", show_default=True, metavar="NAME",
              help="Sort by a run column (run_id, status, duration_s, ...) or a param (lr, matmul, ...).")
@click.option("--desc", "descending", is_flag=True, help="Sort in descending order.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {total, offset, runs: [...]}.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV of the rows.")
@click.option("--stale", is_flag=True,
              help="Only runs made by code that has changed since (a component's version differs from the "
                   "installed one, or it is no longer installed), with what changed. Loads the plugins.")
@click.pass_obj
def runs_list(state, run_filter, limit: int, offset: int, order_by: str, descending: bool, as_json: bool,
              as_csv: bool, stale: bool) -> None:
    """List runs with their params, status and error, filtered like the app's sidebar.

    \b
    Examples:
      runner runs --sweep 3 --status failed
      runner runs --experiment matmul --where matmul=torch,einsum --where shapes=64x784x50
      runner runs --where lr>=0.1 --where lr<=0.5 --json
      runner runs --stale          # results an edit to a plugin has made stale
    """
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    from scratchlab.db import queries
    from scratchlab.reports.export import records, table_bytes
    from scratchlab.reports.tables import nan_is_missing
    from scratchlab.reports.terminal import runs_table
    from scratchlab.reports.views.runs import runs_display

    store = read_store(state)
    with database_errors():
        kwargs = run_filter.query_kwargs()
        notes: dict[int, str] = {}
        if stale:
            from scratchlab.runner.staleness import stale_components, stale_notes

            versions = queries.component_versions(store, **kwargs)
            notes = stale_notes(stale_components(versions, state.plugins.registry))
            kwargs["run_ids"] = sorted(notes)
        total = queries.count_runs(store, **kwargs)
        rows = queries.list_runs(store, **kwargs, limit=limit or None, offset=offset, order_by=order_by,
                                 descending=descending)
    if stale:
        rows["stale"] = rows["run_id"].map(notes)
    if as_json:
        _echo_json({"total": int(total), "offset": offset, "runs": records(rows, nan_is_missing("runs", rows))})
    elif as_csv:
        click.echo(table_bytes(rows, "csv").decode(), nl=False)
    else:
        shown = runs_display(rows)
        if stale:
            shown["stale"] = rows["stale"]
        _console().print(runs_table(shown, total=int(total)))


@click.command(name="show")
@click.argument("run_id", type=int)
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
@click.option("--against", "against", type=int, metavar="SWEEP",
              help="Reference sweep: flag timings of --sweep that changed beyond noise against it.")
@click.option("--by", "by", metavar="COLUMN", help="Rows per this component category (default: the one that varies).")
@click.option("--baseline", metavar="NAME", help="Speed-ups against this component (default: the slowest).")
@click.option("--metrics", "metric_mode", is_flag=True, help="Compare final metrics per configuration instead of timings.")
@click.option("--fail-on-regression", is_flag=True, help="With --against: exit 1 when anything got slower.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON rows.")
@click.pass_obj
def runs_compare(state, run_filter, against: int | None, by: str | None, baseline: str | None, metric_mode: bool,
                 fail_on_regression: bool, as_json: bool) -> None:
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
            result = comparisons.build(store, run_filter, against=against, by=by, baseline=baseline,
                                       metric_mode=metric_mode)
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
@click.option("--table", "table", type=click.Choice(["runs", "timings", "stats", "metrics"]), default="runs",
              show_default=True, help="Which table to export.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "json"]), default="csv", show_default=True,
              help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="File to write (default: standard output; Parquet needs a file or a pipe).")
@click.pass_obj
def table_export(state, run_filter, table: str, fmt: str, output: Path | None) -> None:
    """Export a results table (runs, timings, stats or metrics) of the filtered runs
    as CSV, Parquet or JSON.

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
    data = table_bytes(frame, fmt, nan_is_missing(table, frame))
    if output is None:
        click.echo(data, nl=False)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"wrote {len(frame)} rows of {table} to {output}", err=True)


def streamlit_command(db_url: str, *, port: int | None, headless: bool, address: str | None) -> list[str]:
    """The ``streamlit run`` command line that serves the app on ``db_url``."""
    command = [sys.executable, "-m", "streamlit", "run", str(app_path()),
               "--server.headless", "true" if headless else "false",
               # the app needs no network: no usage statistics
               "--browser.gatherUsageStats", "false"]
    if port is not None:
        command += ["--server.port", str(port)]
    if address:
        command += ["--server.address", address]
    return [*command, "--", "--db", db_url]


@click.command(name="report")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to serve on (default: Streamlit's, 8501).")
@click.option("--address", help="Address to listen on (default: Streamlit's).")
@click.option("--no-browser", "headless", is_flag=True, help="Do not open a browser (headless server).")
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
    command = streamlit_command(state.db_url, port=port, headless=headless, address=address)
    returncode = run_until_stopped(command)
    # stopped by Ctrl-C or a terminate signal: a normal end for a server
    if returncode not in (0, -signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT, 128 + signal.SIGTERM):
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
