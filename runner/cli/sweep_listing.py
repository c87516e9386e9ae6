"""What ``runner sweep --dry-run`` prints: the plan as tables fitted to the
terminal (or JSON), a large plan summarised per experiment, or a search's space.

Nothing here runs or writes anything; rich and the reports' table helpers are
imported only when a plan is printed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click

from scratchlab.core.records import PlannedRun


def show_dry_run(prepared: Any, registry: Any, *, stored: bool, as_json: bool) -> None:
    """--dry-run: the planning warnings on stderr, then the plan (or, for a search, what
    it searches) on stdout. ``stored``: the plan is a stored sweep's (--resume,
    --rerun-failed), whose database was opened."""
    for message in prepared.warnings:
        click.echo(f"warning: {message}", err=True)
    suffix = "dry run" if stored else "dry run: nothing is run or written"
    title = f"{prepared.title} ({suffix})"
    if prepared.search is not None:  # a search's runs are known only as it asks
        driver = prepared.search
        shown = {"search": driver.search.to_json(), "space": driver.space.describe()}
        click.echo(json.dumps(shown) if as_json else title)
        return
    show_plan(prepared.runs, registry, title, as_json)


def show_plan(runs: Sequence[PlannedRun], registry: Any, title: str, as_json: bool) -> None:
    """The plan run by run (a table, or JSON with --json), or summarised when it is large."""
    if not as_json and len(runs) > PLAN_TABLE_ROWS:
        print_plan_summary(plan_summary(runs, registry), title)
        return
    rows = plan_rows(runs, registry)
    if as_json:
        click.echo(json.dumps({"count": len(rows), "runs": rows}, indent=2, default=str))
    else:
        print_plan(rows, title)


def changed_params(run: PlannedRun, registry: Any) -> dict[str, Any]:
    """The params of ``run`` whose value differs from the default."""
    defaults = dict(registry.get("experiment", run.experiment).component.params)
    for category, name in run.components.items():
        defaults.update(
            {f"{name}.{p}": v for p, v in registry.get(category, name).component.params.items()}
        )
    return {k: v for k, v in run.params.items() if k not in defaults or defaults[k] != v}


def plan_rows(runs: Sequence[PlannedRun], registry: Any) -> list[dict[str, Any]]:
    """The plan as rows: experiment, the plugin it comes from, components, changed params, device, dtype,
    seed, repeat, key."""
    return [
        {
            "experiment": r.experiment,
            "plugin": registry.get("experiment", r.experiment).plugin,
            "components": dict(r.components),
            "params": changed_params(r, registry),
            "device": r.device,
            "dtype": r.dtype,
            "seed": r.seed,
            "repeat": r.repeat,
            "key": r.key,
        }
        for r in runs
    ]


def print_plan(rows: Sequence[Mapping[str, Any]], title: str) -> None:
    """Print the plan, one table per experiment fitted to the terminal (names never
    break), and the count on stdout."""
    from rich.console import Console
    from rich.text import Text

    from scratchlab.core.textsafe import printable
    from scratchlab.reports.glance import plan_glances
    from scratchlab.reports.terminal import fitted_table
    from scratchlab.runner.cli.plugins import plugin_label

    console = Console(soft_wrap=False)
    console.print(Text(printable(title)))
    for table in plan_glances(rows, lambda p: "" if plugin_label(p) == "built-in" else p):
        console.print(fitted_table(table, console))
    experiments = len({r["experiment"] for r in rows})
    console.print(
        f"{len(rows)} run{'s' if len(rows) != 1 else ''} of {experiments} experiment{'s' if experiments != 1 else ''}",
        highlight=False,
    )


#: a dry run lists the plan run by run up to this many runs, and summarises a larger one
PLAN_TABLE_ROWS = 200


def plan_summary(runs: Sequence[PlannedRun], registry: Any) -> list[dict[str, Any]]:
    """A large plan in a few rows: per experiment, its plugin, its run count and how many
    components of each category it combines (plus devices, thread counts and repeats)."""
    by_experiment: dict[str, list[PlannedRun]] = {}
    for run in runs:
        by_experiment.setdefault(run.experiment, []).append(run)
    rows = []
    for experiment, group in by_experiment.items():
        axes = {
            category: len({r.components[category] for r in group})
            for category in group[0].components
        }
        axes.update(
            device=len({r.device for r in group}),
            threads=len({r.threads for r in group}),
            repeat=len({r.repeat for r in group}),
        )
        rows.append(
            {
                "experiment": experiment,
                "plugin": registry.get("experiment", experiment).plugin,
                "runs": len(group),
                "axes": axes,
            }
        )
    return rows


def print_plan_summary(rows: Sequence[Mapping[str, Any]], title: str) -> None:
    """Print :func:`plan_summary`'s rows and the count on stdout."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from scratchlab.core.textsafe import printable
    from scratchlab.runner.cli.plugins import plugin_label

    total = sum(row["runs"] for row in rows)
    console = Console(soft_wrap=False)
    console.print(Text(printable(title)))
    console.print(f"{total:,} runs, summarised (--json lists every run)", highlight=False)
    table = Table(show_edge=False)
    for column, justify in (("experiment", "left"), ("plugin", "left"), ("runs", "right")):
        table.add_column(column, justify=justify, overflow="fold")
    table.add_column("combines", overflow="fold")
    for row in rows:
        table.add_row(
            printable(row["experiment"]),
            printable(plugin_label(row["plugin"])),
            f"{row['runs']:,}",
            printable(" × ".join(f"{axis} {n}" for axis, n in row["axes"].items() if n > 1))
            or "one run",
        )
    console.print(table)
