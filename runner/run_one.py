"""Running one planned run: :func:`run_experiment`, the one entry point, used inline by
the driver, in supervised workers and on Dask workers.

It has oneMKL choose its vector-math kernels in one thread first
(:mod:`~scratchlab.runner.mkl_dispatch`), sets the run up
(:func:`~scratchlab.runner.run_setup.build_context`), seeds every RNG,
applies the run's thread count and determinism (:func:`run_settings`), calls the
experiment under its time budget and turns the outcome into a
:class:`~scratchlab.core.records.RunResult`. It never raises for the run's own failure: a
bad device, an unknown component, a :class:`~scratchlab.plugins.Skip`, an exhausted time
budget or any exception in the experiment all become a result with a status and a reason.

torch is imported inside functions only, so that modules which import this
one (the sweep command) keep ``runner --help`` free of torch.
"""

from __future__ import annotations

import contextlib
import traceback
from datetime import datetime
from typing import Any

from scratchlab.core.records import PlannedRun, RunResult
from scratchlab.plugins.contracts import ContractError
from scratchlab.plugins.types import Component, Skip
from scratchlab.runner.budget import Budget, BudgetExceeded, RunStopped, alarm
from scratchlab.runner.context import RunContext, utcnow
from scratchlab.runner.live import Link, Pruned
from scratchlab.runner.mkl_dispatch import resolve_vml_kernels
from scratchlab.runner.run_setup import SetupError, build_context, registry_of
from scratchlab.runner.rundata import seed_everything

__all__ = ["run_experiment", "run_settings"]


@contextlib.contextmanager
def run_settings(planned: PlannedRun) -> Any:
    """The run's torch thread count (whatever backend called it, so the stored count is the
    one it ran with) and, with ``deterministic``, torch's deterministic algorithms; the
    process's own settings come back afterwards (a worker outlives the run)."""
    import os

    import torch

    threads, before = planned.threads, torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if threads and threads != before:
        torch.set_num_threads(threads)
    if planned.deterministic:
        # cuBLAS is deterministic only with a fixed workspace (torch's reproducibility notes)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        # only when changed: the call imports torch._dynamo (800 modules, seconds) on first use
        if torch.are_deterministic_algorithms_enabled() != was_deterministic:
            torch.use_deterministic_algorithms(was_deterministic)
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def run_experiment(
    registry_or_plugins: Any,
    planned: PlannedRun,
    *,
    timeout: float | None = None,
    link: Link | None = None,
) -> RunResult:
    """Run one planned run and return its :class:`RunResult`; never raises for the run's failure.

    Status ``done``; ``skipped`` (a :class:`Skip`, its message the reason);
    ``timeout`` (the budget of ``timeout`` seconds ran out: ``check_budget``,
    or SIGALRM when called in the main thread; everything recorded so far is
    kept); ``failed`` (a set-up problem with a one-line reason, or any other
    exception with its full traceback; ``sys.exit()`` too, its code in the
    reason; any other ``BaseException`` too); ``pruned`` (a search's pruner stopped it at a
    reported value). ``KeyboardInterrupt`` propagates, so the caller can mark the run
    interrupted. ``timeout`` must be positive or None (no budget). ``link`` carries metric
    batches and reported values to the driver while the run runs
    (:mod:`scratchlab.runner.live`); the result then holds only the metrics the driver has not
    got.
    """
    budget = Budget(timeout)
    started_at = utcnow()
    # before anything of the run touches torch: a first VML call on several threads can be wrong
    resolve_vml_kernels()
    registry = registry_of(registry_or_plugins)
    try:
        experiment, ctx = build_context(registry, planned, budget, link)
    except SetupError as exc:
        return RunResult(
            status="failed", reason=str(exc), started_at=started_at, finished_at=utcnow()
        )
    return _run(experiment, ctx, planned, budget, started_at)


def _run(
    experiment: Component,
    ctx: RunContext,
    planned: PlannedRun,
    budget: Budget,
    started_at: datetime,
) -> RunResult:
    """Call the experiment, seeded, under its budget and thread settings: every way it can
    end becomes the result's status and reason (KeyboardInterrupt propagates)."""
    try:
        seed_everything(planned.seed)
        with alarm(budget), run_settings(planned):
            experiment.run(ctx)
    except ContractError as exc:
        # a plugin broke the plugin API: one line naming it and the rule, not torch's traceback
        return ctx.result("failed", str(exc), started_at)
    except Skip as exc:
        return ctx.result("skipped", str(exc) or "skipped by the experiment", started_at)
    except Pruned as exc:
        return ctx.result("pruned", str(exc), started_at)
    except BudgetExceeded as exc:
        return ctx.result("timeout", str(exc), started_at)
    except Exception:
        return ctx.result("failed", traceback.format_exc(), started_at)
    except SystemExit as exc:
        # plugin code calling sys.exit() must not end the sweep that runs it
        return ctx.result(
            "failed",
            f"the experiment called sys.exit({exc.code!r})\n{traceback.format_exc()}",
            started_at,
        )
    except RunStopped as exc:
        return ctx.result("timeout", str(exc), started_at)
    except KeyboardInterrupt:
        raise  # Ctrl-C or SIGTERM at the driver (inline): the sweep stops, the run is interrupted
    except BaseException as exc:
        # any other BaseException subclass a plugin raises is its run's failure, not the sweep's
        return ctx.result(
            "failed", f"the run raised {type(exc).__name__}\n{traceback.format_exc()}", started_at
        )
    return ctx.result("done", None, started_at)
