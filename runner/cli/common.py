"""What the read-only views of the results database share: opening it, its errors,
the run filters, the console and JSON output.

Every database problem or unknown id is one line on stderr with exit code 1.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from scratchlab.core.records import RUN_STATUSES
from scratchlab.runner.options import DB_ID


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
