"""``runner export``: a results table (runs, timings, stats or metrics) of the filtered
runs as CSV, Parquet or JSON.

It does not import torch; the database is opened read-only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scratchlab.runner.cli.common import (
    database_errors,
    filter_options,
    formula_option,
    read_store,
)


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
      runner export --table metrics --experiment train
        --format parquet -o metrics.parquet
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
