"""``runner importance``: which component categories and params matter to a metric.

Reads the stored runs (read-only, no torch, no plugins), ranks their categories
and params with Optuna's importance evaluators
(:mod:`scratchlab.reports.importance`) and prints a bar per line.
"""

from __future__ import annotations

import dataclasses

import click

from scratchlab.runner.cli.common import _echo_json, database_errors, filter_options, read_store


@click.command(name="importance")
@click.option(
    "--metric",
    required=True,
    metavar="NAME[:max|min]",
    help="The final metric to explain, e.g. valid_accuracy; :min when lower is better "
    "(the default for names with loss, error or time in them).",
)
@filter_options
@click.option(
    "--evaluator",
    type=click.Choice(["ped-anova", "fanova"]),
    default="ped-anova",
    show_default=True,
    help="Optuna's PED-ANOVA (fast at any size) or fANOVA (a random forest: slow past a few hundred runs).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: each name's importance, and what was fixed.",
)
@click.pass_obj
def importance_show(state, metric: str, run_filter, evaluator: str, as_json: bool) -> None:
    """Rank the component categories and params of the chosen runs by how much they
    matter to a final metric (importances sum to 1), from Optuna's importance
    evaluators. Only finished runs count unless --status says otherwise; what is
    the same in every run is listed apart.

    \b
    Examples:
      runner importance --metric valid_accuracy --experiment train
      runner importance --metric valid_loss:min --sweep 3
        --where optimizer=adam,sgd
    """
    import shutil

    from scratchlab.db.analysis import metric_table
    from scratchlab.reports.importance import ImportanceError, compute, direction_of
    from scratchlab.reports.management import importance_lines

    name, _colon, direction = metric.partition(":")
    try:
        direction = direction_of(name, direction or None)
    except ImportanceError as exc:
        raise click.BadParameter(str(exc), param_hint="--metric") from None
    if not run_filter.statuses:
        run_filter = dataclasses.replace(run_filter, statuses=("done",))
    with database_errors(), read_store(state) as store:
        table = metric_table(store, name, run_filter)
    if table.empty:
        raise click.ClickException(f"no run matching {run_filter.describe()} has a final {name!r}")
    try:
        result = compute(table, direction=direction, evaluator=evaluator)
    except ImportanceError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _echo_json(
            {
                "metric": result.metric,
                "direction": result.direction,
                "evaluator": result.evaluator,
                "runs": result.runs,
                "importance": [{"name": n, "kind": k, "importance": v} for n, k, v in result.rows],
                "fixed": result.fixed,
            }
        )
        return
    for line in importance_lines(result, shutil.get_terminal_size((80, 24)).columns):
        click.echo(line)
