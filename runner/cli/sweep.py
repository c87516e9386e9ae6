"""``runner sweep``: plan every combination, run it, store it, resume it.

The command only turns its options (:mod:`~scratchlab.runner.cli.sweep_options`)
into a :class:`~scratchlab.runner.spec.SweepSpec` and an
:class:`~scratchlab.runner.sweeping.Execution`
(:mod:`~scratchlab.runner.cli.sweep_spec`), hands them to
:mod:`~scratchlab.runner.sweep_prepare` and :mod:`~scratchlab.runner.sweep_execute`
(the orchestration the Python API shares) and prints the plan
(:mod:`~scratchlab.runner.cli.sweep_listing`) or the summary. torch is imported
only once runs are about to execute (or a non-CPU device is checked), so
``runner sweep --help`` stays light.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scratchlab.runner.cli.category_options import CategoryHelpCommand
from scratchlab.runner.cli.sweep_options import OPTION_CATEGORIES, sweep_options
from scratchlab.runner.cli.sweep_spec import (
    build_execution,
    build_spec,
    check_combinations,
    search_spec,
)

if TYPE_CHECKING:
    from scratchlab.db.store import Store
    from scratchlab.runner.sweeping import Execution, Prepared

EXIT_INTERRUPTED = 130  # the shell's code for "ended by SIGINT"


@click.command(
    name="sweep",
    cls=CategoryHelpCommand,
    shown=tuple(OPTION_CATEGORIES),
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@sweep_options
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
      runner sweep --plugins matmul --matmul torch,einsum
        -s matmul.shapes=64x784x50
      runner sweep --plugins init --experiments init-stats
        --activation relu,tanh --dry-run
      runner sweep --config sweep.toml --workers 2
      runner sweep --experiments train -s train.model=cnn --optimizer sgd,adam
        --norm none,batchnorm -s train.lr=0.01..2:log
        --search tpe --trials 20 --objective valid_accuracy --prune median
      runner sweep --resume 3
      runner sweep --rerun-failed 3

    A category an installed plugin adds gets an option too: --<category> NAMES.
    """
    state = ctx.obj
    check_combinations(options)
    from scratchlab.db.errors import DatabaseError
    from scratchlab.runner.sweeping import SweepError, SweepUsageError
    from scratchlab.runner.workerproc import start_early, stop_early

    local_cluster = options["scheduler"] == "local" and not options["dry_run"]
    try:
        if not (options["dry_run"] or options["inline"] or options["scheduler"]):
            # the first worker imports torch and the plugins while this process plans
            start_early(state.plugin_modules, max_runs=options["max_runs_per_worker"])
        elif local_cluster:
            from scratchlab.runner import daskstart

            daskstart.start_early()  # the local cluster's workers are forks of it
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
        if local_cluster:
            from scratchlab.runner import daskstart

            daskstart.stop_early()  # nor the variables set for a cluster that never started


def _sweep(ctx: click.Context, state: Any, options: Mapping[str, Any]) -> None:
    """Prepare (plan, or read the stored sweep), then show it (--dry-run) or run it."""
    import contextlib

    from scratchlab.db import open_store

    execution = build_execution(options)
    stored = options["resume"] is not None or options["rerun_failed"] is not None
    with contextlib.ExitStack() as stack:
        store = None
        if stored:
            store = stack.enter_context(
                open_store(state.db_url, read_only=bool(options["dry_run"]))
            )
        prepared = _prepare(state, options, store)
        if prepared.note is not None and store is not None:
            # a stored sweep with nothing left to run is not an error
            click.echo(prepared.note, err=True)
            return
        if options["dry_run"]:
            from scratchlab.runner.cli.sweep_listing import show_dry_run

            show_dry_run(
                prepared, state.plugins.registry, stored=stored, as_json=options["as_json"]
            )
            return
        if prepared.note is not None:
            raise click.UsageError(prepared.note)
        execution.check_environment()  # before a new database file is made
        if store is None:
            store = stack.enter_context(open_store(state.db_url))
        _run(ctx, state, options, prepared, store, execution)


def _prepare(state: Any, options: Mapping[str, Any], store: Store | None) -> Prepared:
    """The sweep to run: the stored one's runs left to do (--resume), its failed runs
    planned again (--rerun-failed), or a new plan from the options."""
    from scratchlab.runner import sweep_prepare

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
        spec, file_name = build_spec(options, state.plugin_modules)
        prepared = sweep_prepare.prepare_new(
            spec,
            state.plugins,
            name=options["name"] or file_name,
            tags=options["tags"],
            search=search_spec(options),
        )
    if options["tags"] and store is not None:  # a resumed or rerun sweep gets them too
        prepared.tags = sweep_prepare.checked_tags(options["tags"])
    return prepared


def _run(
    ctx: click.Context,
    state: Any,
    options: Mapping[str, Any],
    prepared: Prepared,
    store: Store,
    execution: Execution,
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
