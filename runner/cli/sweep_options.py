"""The options of ``runner sweep``, declared once: what each one is, its type and
its help, in the order ``runner sweep --help`` lists them.

:func:`sweep_options` adds them all to the command; ``PLAN_OPTIONS`` names the
ones that shape a plan and :func:`option_flag` the flag a user typed for an
option's parameter name, for the usage errors that name them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from scratchlab.plugins.categories import BUILTIN_CATEGORIES
from scratchlab.plugins.training_types import TRAINING_CATEGORIES
from scratchlab.runner import options as options_
from scratchlab.runner.cli.category_options import category_help
from scratchlab.runner.spec import DEFAULT_MAX_RUNS, DTYPES

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


def option_flag(name: str) -> str:
    """The flag of the option whose parameter is ``name`` (``settings`` -> ``-s``)."""
    return {"categories": "--plugins", "settings": "-s", "devices": "--device"}.get(
        name, "--" + name.removeprefix("select_").replace("_", "-")
    )


def _category_options() -> list[Callable[..., Any]]:
    """One ``--<category> NAMES`` option per component category."""
    return [
        click.option(
            f"--{category.name}",
            f"select_{category.name}",
            metavar="NAMES",
            help=category_help(category),
        )
        for category in OPTION_CATEGORIES.values()
    ]


#: every option of ``runner sweep``, in the order its --help lists them
SWEEP_OPTIONS: tuple[Callable[..., Any], ...] = (
    click.option(
        "--plugins",
        "categories",
        metavar="CATEGORIES",
        help="Categories to sweep with every registered component (comma-separated:"
        f" {', '.join(OPTION_CATEGORIES)}, or one an installed plugin adds; `runner plugins` lists"
        " them).",
    ),
    *_category_options(),
    click.option(
        "--experiments",
        metavar="NAMES",
        help="Experiments to run (comma-separated); default: every experiment that uses a swept category.",
    ),
    click.option(
        "-s",
        "--set",
        "settings",
        multiple=True,
        metavar="NAME.PARAM=VALUE",
        help="Set a param of an experiment or a component (repeatable), parsed by the type of its default; "
        "lists comma-separated.",
    ),
    click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False),
        metavar="FILE",
        help="A TOML file with the same settings plus [[include]] combinations; flags override it.",
    ),
    click.option(
        "--device",
        "devices",
        metavar="DEVICES",
        help="Devices to run on (comma-separated: cpu, cuda, cuda:N, mps).  [default: cpu]",
    ),
    click.option(
        "--dtype",
        type=click.Choice(DTYPES),
        help="Floating-point type of data and weights.  [default: float32]",
    ),
    click.option(
        "--repeat",
        type=options_.REPEAT,
        metavar="N",
        help=f"Run each combination N times (seeds SEED, SEED+1, ...; N at most {options_.MAX_REPEAT}).  [default: 1]",
    ),
    click.option(
        "--seed",
        type=options_.SEED,
        metavar="SEED",
        help=f"Base seed of every run (0..{options_.MAX_SEED}).  [default: 0]",
    ),
    click.option(
        "--data-path",
        metavar="PATH",
        help="File, folder or URL for datasets that read one (sets their path or directory param).",
    ),
    click.option(
        "--threads",
        metavar="N[,M...]",
        help="torch threads per run, swept like any setting; auto: usable cores // workers for runs that"
        " share the cores, every usable core for a run that runs alone (an exclusive experiment such"
        " as matmul, or one worker). The count a run gets is stored and part of its key.  [default: auto]",
    ),
    click.option(
        "--deterministic",
        is_flag=True,
        help="Exact reruns: torch's deterministic algorithms in every run (an op without one fails"
        " the run) and auto threads fixed at 1, so every mode runs the same count; part of each"
        " run's key.",
    ),
    click.option(
        "--search",
        type=click.Choice(("random", "tpe")),
        help="Search instead of running the grid (Optuna's random or TPE sampler): every category"
        " with several components is a choice, -s PARAM=LOW..HIGH[:log] or =A,B,C a range.",
    ),
    click.option("--trials", type=int, metavar="N", help="Trials a search runs (with --search)."),
    click.option(
        "--objective",
        metavar="METRIC[:max|min]",
        help="The final metric a search optimises (default direction: min for a name with loss or"
        " error in it, else max).",
    ),
    click.option(
        "--prune",
        type=click.Choice(("none", "median", "hyperband")),
        help="Stop a search's poor trials early on the values runs report (Optuna's pruners)."
        "  [default: none]",
    ),
    click.option(
        "--max-runs",
        type=options_.PLAN_RUNS,
        metavar="N",
        help=f"Refuse a plan of more than N runs, counted before any is built"
        f" (N at most {options_.MAX_PLAN_RUNS:,}).  [default: {DEFAULT_MAX_RUNS:,}]",
    ),
    click.option("--name", help="Name of the sweep.  [default: what is swept and the time]"),
    click.option(
        "--tag",
        "tags",
        multiple=True,
        metavar="TAG",
        help="Tag the sweep (repeatable); runner runs --where tag=TAG finds its runs.",
    ),
    click.option(
        "--dry-run", is_flag=True, help="Print the plan and the run count; run and write nothing."
    ),
    click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print the plan (with --dry-run) or the summary as JSON.",
    ),
    click.option(
        "--workers",
        type=options_.WORKERS,
        metavar="N",
        help="Run on N supervised worker processes (a crash costs one run, not the sweep)."
        "  [default: one per usable CPU core]",
    ),
    click.option(
        "--max-runs-per-worker",
        type=options_.RUNS_PER_WORKER,
        metavar="N",
        help="Replace each worker process after N runs (as multiprocessing's maxtasksperchild does);"
        " a worker is replaced anyway after a run that changed its process for good.  [default: no limit]",
    ),
    click.option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run on the existing Dask cluster at ADDRESS (tcp://host:port), or `local` for a local"
        " Dask cluster of --workers processes.",
    ),
    click.option(
        "--inline",
        is_flag=True,
        help="Run every run in this process, one after another, so that pdb and breakpoints work;"
        " a plugin that crashes or exits then ends the sweep.",
    ),
    click.option(
        "--timeout",
        type=options_.SECONDS,
        metavar="SECONDS",
        help=f"Stop a run after SECONDS (finite, > 0, at most {options_.MAX_TIMEOUT_S:g}) and record it as timeout.",
    ),
    click.option("--fail-fast", is_flag=True, help="Stop at the first failed or timed-out run."),
    click.option(
        "--retry-noisy",
        type=options_.RETRIES,
        default=0,
        metavar="N",
        help="Measure again, up to N times, the runs whose timings were judged noisy (the machine was busy);"
        f" each new result replaces the old one (N at most {options_.MAX_RETRIES}).  [default: 0]",
    ),
    click.option(
        "-q", "--quiet", is_flag=True, help="Plain log lines instead of the live progress bar."
    ),
    click.option(
        "--resume",
        type=options_.DB_ID,
        metavar="SWEEP_ID",
        help="Run again the runs of a stored sweep that are not done or skipped; refused while"
        " another process still runs it (its heartbeat is fresh).",
    ),
    click.option(
        "--rerun-failed",
        type=options_.DB_ID,
        metavar="SWEEP_ID",
        help="A new sweep with the failed and timed-out runs of SWEEP_ID, planned with the current code.",
    ),
)


def sweep_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add every option of ``runner sweep`` to ``command``, as stacked decorators would."""
    for option in reversed(SWEEP_OPTIONS):
        command = option(command)
    return command
