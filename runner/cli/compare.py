"""``runner compare``: timings per component and shape against a baseline, or final
metrics per configuration.

It does not import torch; the database is opened read-only.
"""

from __future__ import annotations

import click

from scratchlab.runner.cli.common import (
    _console,
    _echo_json,
    database_errors,
    filter_options,
    read_store,
)
from scratchlab.runner.options import DB_ID


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
