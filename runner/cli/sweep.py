"""``runner sweep``: plan every combination, run it, store it, resume it.

The command only parses options into a :class:`SweepSpec`
(:mod:`~scratchlab.runner.plan`) and an
:class:`~scratchlab.runner.sweeping.Execution`, hands them to
:mod:`~scratchlab.runner.sweep_prepare` and :mod:`~scratchlab.runner.sweep_execute`
(the orchestration the Python API shares)
and prints the plan or the summary. torch is imported only once runs are
about to execute (or a non-CPU device is checked), so ``runner sweep --help``
stays light.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scratchlab.core.records import PlannedRun
from scratchlab.plugins.categories import BUILTIN_CATEGORIES
from scratchlab.plugins.training_types import TRAINING_CATEGORIES
from scratchlab.runner import options as options_
from scratchlab.runner.cli.category_options import CategoryHelpCommand, category_help
from scratchlab.runner.spec import DEFAULT_MAX_RUNS, DTYPES, PlanError, SweepSpec
from scratchlab.runner.spec_config import load_config, merge_spec_args
from scratchlab.runner.spec_values import add_setting, parse_setting, parse_threads, split_names

if TYPE_CHECKING:
    from scratchlab.db.store import Store

#: categories with an option of their own: the built-in ones and those scratchlab's
#: training plugins add (declared without torch, so --help stays light); a third
#: party's category is parsed after plugins load (``category_options``)
OPTION_CATEGORIES = {
    c.name: c for c in (*BUILTIN_CATEGORIES, *TRAINING_CATEGORIES) if c.is_component
}

#: options that shape the plan; they cannot be combined with --resume / --rerun-failed
PLAN_OPTIONS: tuple[str, ...] = (
    "categories",
    "experiments",
    "settings",
    "config",
    "devices",
    "dtype",
    "repeat",
    "seed",
    "data_path",
    "threads",
    "deterministic",
    "max_runs",
    "search",
    "trials",
    "objective",
    "prune",
    *(f"select_{c}" for c in OPTION_CATEGORIES),
)

EXIT_INTERRUPTED = 130  # the shell's code for "ended by SIGINT"


def _category_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One ``--<category> NAMES`` option per component category."""
    for category in reversed(OPTION_CATEGORIES.values()):
        command = click.option(
            f"--{category.name}",
            f"select_{category.name}",
            metavar="NAMES",
            help=category_help(category),
        )(command)
    return command


def _option_flag(name: str) -> str:
    return {"categories": "--plugins", "settings": "-s", "devices": "--device"}.get(
        name, "--" + name.removeprefix("select_").replace("_", "-")
    )


def _data_path(value: str | None) -> str | None:
    """An existing local path made absolute (workers may run elsewhere); a URL as given."""
    if value is None or "://" in value:
        return value
    path = Path(value).expanduser()
    if not path.exists():
        raise click.BadParameter(f"{value} does not exist", param_hint="--data-path")
    return str(path.resolve())


def build_spec(
    options: Mapping[str, Any], plugin_modules: Sequence[str]
) -> tuple[SweepSpec, str | None]:
    """The spec from a config file (if any) overridden by the flags given; and the file's name."""
    file_args: dict[str, Any] = {}
    if options["config"] is not None:
        file_args = load_config(options["config"])
    settings: dict[str, dict[str, Any]] = {}
    for text in options["settings"]:
        target, param, value = parse_setting(text)
        add_setting(settings, target, param, value, "-s")
    components = {
        c: split_names(options[f"select_{c}"])
        for c in OPTION_CATEGORIES
        if options[f"select_{c}"] is not None
    }
    components.update(
        options.get("plugin_categories") or {}
    )  # --<category> of categories plugins add
    cli_args = {
        "plugins": split_names(options["categories"])
        if options["categories"] is not None
        else None,
        "components": components or None,
        "experiments": split_names(options["experiments"])
        if options["experiments"] is not None
        else None,
        "devices": split_names(options["devices"]) if options["devices"] is not None else None,
        "dtype": options["dtype"],
        "repeat": options["repeat"],
        "seed": options["seed"],
        "data_path": _data_path(options["data_path"]),
        "settings": settings or None,
        "threads": parse_threads(options["threads"]) if options["threads"] is not None else None,
        "deterministic": True if options["deterministic"] else None,
        "max_runs": options.get("max_runs"),
    }
    merged = merge_spec_args(file_args, cli_args)
    name = merged.pop("name", None)
    if merged.get("data_path") is not None and options["data_path"] is None:
        # a path in the config file is relative to the file, not to where the command runs
        base = Path(options["config"]).parent
        merged["data_path"] = _data_path(str(base / merged["data_path"]))
    return SweepSpec(**merged, plugin_modules=tuple(plugin_modules)), name


# --------------------------------------------------------------------------- the plan as a table


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


# --------------------------------------------------------------------------- the command


@click.command(
    name="sweep",
    cls=CategoryHelpCommand,
    shown=tuple(OPTION_CATEGORIES),
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.option(
    "--plugins",
    "categories",
    metavar="CATEGORIES",
    help="Categories to sweep with every registered component (comma-separated:"
    f" {', '.join(OPTION_CATEGORIES)}, or one an installed plugin adds; `runner plugins` lists"
    " them).",
)
@_category_options
@click.option(
    "--experiments",
    metavar="NAMES",
    help="Experiments to run (comma-separated); default: every experiment that uses a swept category.",
)
@click.option(
    "-s",
    "--set",
    "settings",
    multiple=True,
    metavar="NAME.PARAM=VALUE",
    help="Set a param of an experiment or a component (repeatable), parsed by the type of its default; "
    "lists comma-separated.",
)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="A TOML file with the same settings plus [[include]] combinations; flags override it.",
)
@click.option(
    "--device",
    "devices",
    metavar="DEVICES",
    help="Devices to run on (comma-separated: cpu, cuda, cuda:N, mps).  [default: cpu]",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    help="Floating-point type of data and weights.  [default: float32]",
)
@click.option(
    "--repeat",
    type=options_.REPEAT,
    metavar="N",
    help=f"Run each combination N times (seeds SEED, SEED+1, ...; N at most {options_.MAX_REPEAT}).  [default: 1]",
)
@click.option(
    "--seed",
    type=options_.SEED,
    metavar="SEED",
    help=f"Base seed of every run (0..{options_.MAX_SEED}).  [default: 0]",
)
@click.option(
    "--data-path",
    metavar="PATH",
    help="File, folder or URL for datasets that read one (sets their path or directory param).",
)
@click.option(
    "--threads",
    metavar="N[,M...]",
    help="torch threads per run, swept like any setting; auto: usable cores // workers for runs that"
    " share the cores, every usable core for a run that runs alone (an exclusive experiment such"
    " as matmul, or one worker). The count a run gets is stored and part of its key.  [default: auto]",
)
@click.option(
    "--deterministic",
    is_flag=True,
    help="Exact reruns: torch's deterministic algorithms in every run (an op without one fails"
    " the run) and auto threads fixed at 1, so every mode runs the same count; part of each"
    " run's key.",
)
@click.option(
    "--search",
    type=click.Choice(("random", "tpe")),
    help="Search instead of running the grid (Optuna's random or TPE sampler): every category"
    " with several components is a choice, -s PARAM=LOW..HIGH[:log] or =A,B,C a range.",
)
@click.option("--trials", type=int, metavar="N", help="Trials a search runs (with --search).")
@click.option(
    "--objective",
    metavar="METRIC[:max|min]",
    help="The final metric a search optimises (default direction: min for a name with loss or"
    " error in it, else max).",
)
@click.option(
    "--prune",
    type=click.Choice(("none", "median", "hyperband")),
    help="Stop a search's poor trials early on the values runs report (Optuna's pruners)."
    "  [default: none]",
)
@click.option(
    "--max-runs",
    type=options_.PLAN_RUNS,
    metavar="N",
    help=f"Refuse a plan of more than N runs, counted before any is built"
    f" (N at most {options_.MAX_PLAN_RUNS:,}).  [default: {DEFAULT_MAX_RUNS:,}]",
)
@click.option("--name", help="Name of the sweep.  [default: what is swept and the time]")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    help="Tag the sweep (repeatable); runner runs --where tag=TAG finds its runs.",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan and the run count; run and write nothing."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the plan (with --dry-run) or the summary as JSON.",
)
@click.option(
    "--workers",
    type=options_.WORKERS,
    metavar="N",
    help="Run on N supervised worker processes (a crash costs one run, not the sweep)."
    "  [default: one per usable CPU core]",
)
@click.option(
    "--max-runs-per-worker",
    type=options_.RUNS_PER_WORKER,
    metavar="N",
    help="Replace each worker process after N runs (as multiprocessing's maxtasksperchild does);"
    " a worker is replaced anyway after a run that changed its process for good.  [default: no limit]",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run on the existing Dask cluster at ADDRESS (tcp://host:port), or `local` for a local"
    " Dask cluster of --workers processes.",
)
@click.option(
    "--inline",
    is_flag=True,
    help="Run every run in this process, one after another, so that pdb and breakpoints work;"
    " a plugin that crashes or exits then ends the sweep.",
)
@click.option(
    "--timeout",
    type=options_.SECONDS,
    metavar="SECONDS",
    help=f"Stop a run after SECONDS (finite, > 0, at most {options_.MAX_TIMEOUT_S:g}) and record it as timeout.",
)
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed or timed-out run.")
@click.option(
    "--retry-noisy",
    type=options_.RETRIES,
    default=0,
    metavar="N",
    help="Measure again, up to N times, the runs whose timings were judged noisy (the machine was busy);"
    f" each new result replaces the old one (N at most {options_.MAX_RETRIES}).  [default: 0]",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="Plain log lines instead of the live progress bar."
)
@click.option(
    "--resume",
    type=options_.DB_ID,
    metavar="SWEEP_ID",
    help="Run again the runs of a stored sweep that are not done or skipped; refused while"
    " another process still runs it (its heartbeat is fresh).",
)
@click.option(
    "--rerun-failed",
    type=options_.DB_ID,
    metavar="SWEEP_ID",
    help="A new sweep with the failed and timed-out runs of SWEEP_ID, planned with the current code.",
)
@click.pass_context
def sweep_run(ctx: click.Context, **options: Any) -> None:
    """Run every combination of the chosen components and store the results.

    Each experiment runs once per combination of the categories it uses (the
    others stay at their defaults), on every device, REPEAT times. Runs are
    stored as pending first, then as each finishes; a failing run is recorded
    and the sweep goes on. Exit code 0 when every run is done or skipped, 1
    when any failed or timed out, 2 for a usage error, 130 after Ctrl-C.

    \b
    Examples:
      runner sweep --plugins matmul,init
      runner sweep --plugins matmul --matmul torch,einsum -s matmul.shapes=64x784x50
      runner sweep --plugins init --experiments init-stats --activation relu,tanh --dry-run
      runner sweep --config sweep.toml --workers 2
      runner sweep --experiments train -s train.model=cnn --optimizer sgd,adam
        --norm none,batchnorm -s train.lr=0.01..2:log
        --search tpe --trials 20 --objective valid_accuracy --prune median
      runner sweep --resume 3
      runner sweep --rerun-failed 3

    A category an installed plugin adds gets an option too: --<category> NAMES.
    """
    state = ctx.obj
    _check_combinations(options)
    from scratchlab.db.errors import DatabaseError
    from scratchlab.runner.sweeping import SweepError, SweepUsageError
    from scratchlab.runner.workerproc import start_early, stop_early

    try:
        if not (options["dry_run"] or options["inline"] or options["scheduler"]):
            # the first worker imports torch and the plugins while this process plans
            start_early(state.plugin_modules, max_runs=options["max_runs_per_worker"])
        if ctx.args:
            from scratchlab.runner.cli.category_options import category_choices

            own = [o for p in ctx.command.params for o in p.opts if o.startswith("--")]
            options["plugin_categories"] = category_choices(ctx.args, state.plugins.registry, own)
        _sweep(ctx, state, options)
    except SweepUsageError as exc:
        raise click.UsageError(str(exc)) from None
    except (SweepError, DatabaseError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        # Ctrl-C before the runs started (planning, cluster start-up): nothing ran
        click.echo("interrupted", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    finally:
        stop_early()  # a sweep that ended before it ran anything leaves no worker behind


def _check_combinations(options: Mapping[str, Any]) -> None:
    # --workers with --scheduler ADDRESS, --inline with either: Execution checks those
    stored = [o for o in ("resume", "rerun_failed") if options[o] is not None]
    if len(stored) > 1:
        raise click.UsageError("give --resume or --rerun-failed, not both")
    if options["resume"] is not None and options["name"] is not None:
        raise click.UsageError(
            "--resume continues a sweep under its own name; --name cannot be combined with it"
        )
    if stored:
        given = [_option_flag(o) for o in PLAN_OPTIONS if options[o] not in (None, (), False)]
        if given:
            raise click.UsageError(
                f"{_option_flag(stored[0])} replays a stored sweep's plan; it cannot be combined with {', '.join(given)}"
            )


def _sweep(ctx: click.Context, state: Any, options: Mapping[str, Any]) -> None:
    """Prepare (plan, or read the stored sweep), then show it (--dry-run) or run it."""
    import contextlib

    from scratchlab.db import open_store
    from scratchlab.runner import sweep_prepare, sweeping

    execution = sweeping.Execution(
        workers=options["workers"],
        scheduler=options["scheduler"],
        inline=options["inline"],
        timeout=options["timeout"],
        fail_fast=options["fail_fast"],
        retry_noisy=options["retry_noisy"],
        max_runs_per_worker=options["max_runs_per_worker"],
    )
    with contextlib.ExitStack() as stack:
        store = None
        if options["resume"] is not None or options["rerun_failed"] is not None:
            store = stack.enter_context(
                open_store(state.db_url, read_only=bool(options["dry_run"]))
            )
        if options["resume"] is not None:
            prepared = sweep_prepare.prepare_resume(
                store, options["resume"], state.plugins, state.plugin_modules
            )
        elif options["rerun_failed"] is not None:
            prepared = sweep_prepare.prepare_rerun(
                store,
                options["rerun_failed"],
                state.plugins,
                state.plugin_modules,
                name=options["name"],
            )
        else:
            try:
                spec, file_name = build_spec(options, state.plugin_modules)
            except PlanError as exc:
                raise click.UsageError(str(exc)) from None
            prepared = sweep_prepare.prepare_new(
                spec,
                state.plugins,
                name=options["name"] or file_name,
                tags=options["tags"],
                search=search_spec(options),
            )
        if options["tags"] and store is not None:  # a resumed or rerun sweep gets them too
            prepared.tags = sweep_prepare.checked_tags(options["tags"])
        if prepared.note is not None and store is not None:
            click.echo(
                prepared.note, err=True
            )  # a stored sweep with nothing left to run is not an error
            return
        if options["dry_run"]:
            for message in prepared.warnings:
                click.echo(f"warning: {message}", err=True)
            suffix = "dry run" if store is not None else "dry run: nothing is run or written"
            if prepared.search is not None:  # a search's runs are known only as it asks
                driver = prepared.search
                shown = {"search": driver.search.to_json(), "space": driver.space.describe()}
                click.echo(
                    json.dumps(shown) if options["as_json"] else f"{prepared.title} ({suffix})"
                )
                return
            _show_plan(
                prepared.runs,
                state.plugins.registry,
                f"{prepared.title} ({suffix})",
                options["as_json"],
            )
            return
        if prepared.note is not None:
            raise click.UsageError(prepared.note)
        execution.check_environment()  # before a new database file is made
        if store is None:
            store = stack.enter_context(open_store(state.db_url))
        _run(ctx, state, options, prepared, store, execution)


def search_spec(options: Mapping[str, Any]) -> Any:
    """The :class:`~scratchlab.runner.search.SearchSpec` that --search, --trials, --objective
    and --prune ask for, or None for a grid; a usage error for a half-given search."""
    from scratchlab.runner.search import SearchSpec, parse_objective

    given = [o for o in ("trials", "objective", "prune") if options[o] is not None]
    if options["search"] is None:
        if given:
            raise click.UsageError(
                f"{_option_flag(given[0])} needs --search random or --search tpe"
            )
        return None
    missing = [f"--{o}" for o in ("trials", "objective") if options[o] is None]
    if missing:
        raise click.UsageError(f"--search needs {' and '.join(missing)}")
    try:
        name, direction = parse_objective(options["objective"])
        return SearchSpec(
            method=options["search"],
            trials=options["trials"],
            objective=name,
            direction=direction,
            prune=options["prune"] or "none",
        )
    except PlanError as exc:
        raise click.UsageError(str(exc)) from None


def _show_plan(runs: Sequence[PlannedRun], registry: Any, title: str, as_json: bool) -> None:
    if not as_json and len(runs) > PLAN_TABLE_ROWS:
        print_plan_summary(plan_summary(runs, registry), title)
        return
    rows = plan_rows(runs, registry)
    if as_json:
        click.echo(json.dumps({"count": len(rows), "runs": rows}, indent=2, default=str))
    else:
        print_plan(rows, title)


def _run(
    ctx: click.Context,
    state: Any,
    options: Mapping[str, Any],
    prepared: Any,
    store: Store,
    execution: Any,
) -> None:
    """Execute ``prepared``, print the summary and exit with the sweep's code."""
    from scratchlab.runner.progress import make_reporter, print_summary
    from scratchlab.runner.sweep_execute import execute_prepared

    outcome = execute_prepared(
        prepared,
        store=store,
        plugins=state.plugins,
        execution=execution,
        reporter=make_reporter(options["quiet"]),
        argv=[Path(sys.argv[0]).name, *sys.argv[1:]],
        plugin_modules=state.plugin_modules,
    )
    footer = f"sweep {outcome.sweep_id}: {outcome.status}"
    if outcome.interrupted:
        footer += f" — continue with: runner sweep --resume {outcome.sweep_id}"
    elif outcome.stopped_early:
        footer += f" (--fail-fast) — continue with: runner sweep --resume {outcome.sweep_id}"
    if options["as_json"]:
        click.echo(
            json.dumps(
                {
                    "sweep_id": outcome.sweep_id,
                    "name": outcome.name,
                    "status": outcome.status,
                    "experiments": outcome.summary,
                }
            )
        )
    else:
        print_summary(f"sweep {outcome.sweep_id} ({outcome.name})", outcome.summary, footer)
    if outcome.interrupted:
        # 128 + the signal, as a shell reports it: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP
        ctx.exit(128 + outcome.signum if outcome.signum else EXIT_INTERRUPTED)
    if outcome.status != "done":
        ctx.exit(1)
