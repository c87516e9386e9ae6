"""Running one planned run: the run context an experiment receives, and :func:`run_experiment`.

:func:`run_experiment` is the one entry point, used inline by the driver and
on Dask workers. It looks the experiment and its components up, applies the
run's params, seeds every RNG, builds a :class:`RunContext`, calls the
experiment and turns the outcome into a :class:`~scratchlab.core.records.RunResult`.
It never raises for the run's own failure: a bad device, an unknown
component, a :class:`~scratchlab.plugins.Skip`, an exhausted time budget or
any exception in the experiment all become a result with a status and a
reason.

torch is imported inside functions only, so that modules which import this
one (the sweep command) keep ``runner --help`` free of torch.
"""

from __future__ import annotations

import contextlib
import math
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from scratchlab.core.records import PlannedRun, RunResult, TimingRecord
from scratchlab.plugins.contracts import ContractError, guarded, probe_matmul
from scratchlab.plugins.histograms import Binning, HistogramBuffer, watch_histograms
from scratchlab.plugins.registry import Registry
from scratchlab.plugins.stats import RecordBuffer, watch_children
from scratchlab.plugins.types import DEFAULTS, Component, DataSplits, Skip, bind
from scratchlab.runner import timing as timing_mod
from scratchlab.runner.budget import Budget, BudgetExceeded, RunStopped, alarm
from scratchlab.runner.live import Link, Pruned, alarm_held
from scratchlab.runner.rundata import load_dataset, move_splits, seed_everything

__all__ = ["RunContext", "SetupError", "run_experiment"]


class SetupError(Exception):
    """The run cannot start: unknown component or param, bad device or dtype.

    Its message is one line, recorded as the failed run's reason without a
    traceback, because nothing of the experiment ran.
    """


# ---------------------------------------------------------------- context


class RunContext:
    """What an experiment's ``run(ctx)`` receives.

    - ``ctx.components[category]`` and the shortcuts ``ctx.matmul``,
      ``ctx.init``, ``ctx.activation``, ``ctx.loss``, ``ctx.dataset``: the
      chosen components with their params applied;
    - ``ctx.params``: the experiment's params, defaults merged;
    - ``ctx.device`` (``torch.device``), ``ctx.dtype`` (``torch.dtype``), ``ctx.seed``;
    - ``ctx.data``: the dataset's splits on ``ctx.device`` with features in
      ``ctx.dtype``. An experiment that does not use the ``dataset``
      category gets the default dataset (``mnist-5k``) with its default params;
    - recorders: :meth:`timing`, :meth:`stats`, :meth:`watch`, :meth:`metric`,
      :meth:`report`, :meth:`note`; and :meth:`check_budget`;
    - ``ctx.judged``: the metric names a search's pruner judges in this run (empty: none).
    """

    def __init__(
        self,
        *,
        experiment: str,
        components: Mapping[str, Component],
        params: Mapping[str, Any],
        device: Any,
        dtype: Any,
        seed: int,
        budget: Budget,
        dataset: tuple[Component, str] | Callable[[], tuple[Component, str]],
        link: Link | None = None,
    ) -> None:
        self.experiment = experiment
        self.components: Mapping[str, Component] = MappingProxyType(dict(components))
        self.params: Mapping[str, Any] = MappingProxyType(dict(params))
        self.device = device
        self.dtype = dtype
        self.seed = seed
        self._budget = budget
        # (bound dataset, its version), or a function returning them on first use
        self._dataset = dataset
        self._data: DataSplits | None = None
        self._timings: list[TimingRecord] = []
        self._buffer = RecordBuffer()
        self._histograms = HistogramBuffer()
        self._notes: list[str] = []
        self._link = link or Link()
        self._sent = 0  # metrics already sent to the driver while the run ran
        self._sent_at = time.monotonic()

    # -- components -------------------------------------------------------

    def _component(self, category: str) -> Any:
        try:
            return self.components[category]
        except KeyError:
            raise AttributeError(
                f"experiment {self.experiment!r} does not use {category!r};"
                f" add it to the experiment's uses (it uses: {', '.join(self.components) or 'nothing'})"
            ) from None

    @property
    def matmul(self) -> Any:
        """The chosen matmul strategy (:class:`~scratchlab.plugins.Matmul`)."""
        return self._component("matmul")

    @property
    def init(self) -> Any:
        """The chosen weight initialisation (:class:`~scratchlab.plugins.Init`)."""
        return self._component("init")

    @property
    def activation(self) -> Any:
        """The chosen activation (:class:`~scratchlab.plugins.Activation`), gain a float."""
        return self._component("activation")

    @property
    def loss(self) -> Any:
        """The chosen loss (:class:`~scratchlab.plugins.Loss`)."""
        return self._component("loss")

    def _dataset_entry(self) -> tuple[Component, str]:
        if callable(self._dataset):
            self._dataset = self._dataset()
        return self._dataset

    @property
    def dataset(self) -> Any:
        """The dataset ``ctx.data`` comes from: the chosen one, or the default."""
        return self._dataset_entry()[0]

    @property
    def data(self) -> DataSplits:
        """The dataset's splits on the run's device and dtype (loaded once per process)."""
        if self._data is None:
            splits = load_dataset(*self._dataset_entry())
            self._data = move_splits(splits, self.device, self.dtype)
        return self._data

    # -- recorders --------------------------------------------------------

    def timing(
        self,
        label: str,
        fn: Callable[[], Any],
        *,
        shape: str | Sequence[int] | None = None,
        flops: float | None = None,
        min_run_time: float = timing_mod.DEFAULT_MIN_RUN_TIME,
        min_replicates: int = timing_mod.DEFAULT_MIN_REPLICATES,
        max_run_time: float = timing_mod.DEFAULT_MAX_RUN_TIME,
    ) -> TimingRecord:
        """Time ``fn()`` with ``torch.utils.benchmark`` and record it under ``label``.

        Replicates are seconds per call; ``flops`` is the floating-point
        operations of one call (GFLOP/s = flops / median / 1e9). See
        :mod:`scratchlab.runner.timing` for warm-up, threads, CUDA
        synchronisation and how slow calls are capped. The budget is checked
        after every measured block.
        """
        record = timing_mod.measure(
            label,
            fn,
            shape=shape,
            flops=flops,
            min_run_time=min_run_time,
            min_replicates=min_replicates,
            max_run_time=max_run_time,
            between_blocks=self.check_budget,
        )
        self._timings.append(record)
        return record

    def stats(
        self, model: str, layer: int, name: str, tensor: Any, step: int | None = None
    ) -> None:
        """Record mean, std, min, max, fraction zero and fraction non-finite of ``tensor``.

        Computed on the tensor's device at once and read back with the run's
        other pending values in one transfer (no device sync here).
        """
        self._buffer.add_stats(model, layer, name, tensor, step)

    def watch(
        self, module: Any, model: str, step: int | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """A context manager recording every child layer's output of ``module``
        (forward hooks, layers numbered from 1 by ``named_children`` order)::

            with ctx.watch(model, "mlp", step=step):
                out = model(xb)
        """
        return watch_children(self._buffer, module, model, step)

    def histograms(
        self,
        module: Any,
        model: str,
        step: int | None = None,
        *,
        binning: Binning | None = None,
        only: Sequence[str] | None = None,
    ) -> contextlib.AbstractContextManager[None]:
        """A context manager binning the output of each child layer of ``module`` (or of the
        children named in ``only``) into a histogram, 06_cuda_cnn_hooks_init's telemetry;
        layers numbered as :meth:`watch` numbers them. ``binning`` defaults to the lessons'
        40 bins over [-7, 7]; see :mod:`scratchlab.plugins.histograms`."""
        return watch_histograms(self._histograms, module, model, step, binning or Binning(), only)

    def metric(self, name: str, value: Any, step: int | None = None) -> None:
        """Record one value of metric ``name`` (optionally at ``step``).

        ``value`` may be a number or a one-element tensor; a tensor is read
        when the run ends, so logging a loss every step does not synchronise
        the device.
        """
        self._buffer.add_metric(name, value, step)
        if time.monotonic() - self._sent_at >= self._link.options.interval:
            self._send_metrics()

    @property
    def judged(self) -> frozenset[str]:
        """Names of the metrics a search's pruner judges in this run (empty when none):
        an experiment may evaluate more often when its objective is judged."""
        return frozenset(self._link.options.judged)

    def report(self, name: str, value: Any, step: int) -> None:
        """Record metric ``name`` at ``step`` as :meth:`metric` does, and, when a search's
        pruner judges ``name`` (:attr:`judged`), hand it the value: a run that should stop
        raises here (do not catch it); it is stored as ``pruned`` with this step and value."""
        self.metric(name, value, step)
        if name not in self._link.options.judged:
            return
        number = float(value.item() if hasattr(value, "item") else value)
        self._send_metrics()  # the history up to here is stored before the verdict
        if math.isnan(number):
            return
        with alarm_held():  # the question and its answer stay paired on the pipe
            reason = self._link.judge(name, int(step), number)
        if reason:
            raise Pruned(reason)

    def _send_metrics(self) -> None:
        """Send the metrics recorded since the last batch to the driver (reads pending tensors)."""
        self._sent_at = time.monotonic()
        if self._link.options.interval == math.inf:
            return
        metrics = self._buffer.metrics
        if len(metrics) > self._sent:
            with alarm_held():  # sent and counted as sent, or neither
                self._link.send_metrics(metrics[self._sent :])
                self._sent = len(metrics)

    def note(self, message: str) -> None:
        """Attach a remark to a run that finishes ``done`` (stored as its reason),
        e.g. which shapes were skipped."""
        self._notes.append(str(message))

    def check_budget(self) -> None:
        """Raise :class:`BudgetExceeded` when the run's time budget is spent."""
        self._budget.check()

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return self._budget.elapsed

    # -- results ----------------------------------------------------------

    def result(self, status: str, reason: str | None, started_at: datetime) -> RunResult:
        """Everything recorded so far as a :class:`RunResult` with ``status`` and ``reason``.

        Pending device values are read now; if the device cannot deliver them
        any more (it failed), they are dropped and the reason says so.
        """
        try:
            self._buffer.flush()
            self._histograms.flush()
        except Exception as exc:  # a failed device cannot be read; keep the rest
            dropped = self._buffer.discard_pending() + self._histograms.discard_pending()
            note = f"{dropped} pending value(s) lost: {type(exc).__name__}: {exc}"
            reason = f"{reason}\n{note}" if reason else note
            status = "failed" if status == "done" else status
        if status == "done" and self._notes and reason is None:
            reason = "; ".join(self._notes)
        return RunResult(
            status=status,
            reason=reason,
            started_at=started_at,
            finished_at=utcnow(),
            timings=list(self._timings),
            stats=self._buffer.stats,
            # what the driver has not got yet (the rest came in batches while the run ran)
            metrics=self._buffer.metrics[self._sent :],
            histograms=self._histograms.records,
        )


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


# -------------------------------------------------------------- set-up


def _registry(registry_or_plugins: Any) -> Registry:
    registry = getattr(registry_or_plugins, "registry", registry_or_plugins)
    if not isinstance(registry, Registry):
        raise TypeError(
            f"run_experiment needs a Registry or Plugins, got {type(registry_or_plugins).__name__}"
        )
    return registry


def resolve_device(name: str) -> Any:
    """``torch.device(name)``, checked to exist on this machine; SetupError with one line otherwise."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise SetupError(f"unknown device {name!r}: {exc}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SetupError(
                f"device {name!r} was requested but CUDA is not available on this machine"
                f" (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'})"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise SetupError(
                f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif device.type != "cpu":
        try:
            torch.empty(0, device=device)
        except Exception as exc:
            raise SetupError(f"device {name!r} is not usable here: {exc}") from None
    return device


def resolve_dtype(name: str) -> Any:
    """The floating-point ``torch.dtype`` called ``name`` (``"float32"``); SetupError otherwise."""
    import torch

    dtype = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise SetupError(
            f"dtype {name!r} is not a floating-point torch dtype (e.g. float32, float64, bfloat16)"
        )
    return dtype


def split_params(
    params: Mapping[str, Any], experiment: Component, components: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Split a run's params into the experiment's (bare names, defaults merged)
    and each component's (``"<component>.<param>"``, by component name).

    A value for a float param given as an int becomes a float. Unknown names
    raise :class:`SetupError` listing the valid ones.
    """
    chosen = set(components.values())
    experiment_params = dict(experiment.params)
    component_params: dict[str, dict[str, Any]] = {name: {} for name in chosen}
    for key, value in params.items():
        owner, dot, bare = key.rpartition(".")
        if dot and owner in chosen:
            component_params[owner][bare] = value
        elif key in experiment.params:
            experiment_params[key] = _coerce(experiment.params[key], value)
        else:
            valid = [*experiment.params, *(f"{n}.<param>" for n in sorted(chosen))]
            raise SetupError(
                f"unknown param {key!r} for experiment {experiment.name!r}; valid: {', '.join(valid) or 'none'}"
            )
    return experiment_params, component_params


def _coerce(default: Any, value: Any) -> Any:
    # TOML and JSON give 1 for 1.0; keep the param's declared type
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def build_context(
    registry: Registry, planned: PlannedRun, budget: Budget, link: Link | None = None
) -> tuple[Component, RunContext]:
    """Look up and bind everything ``planned`` names; raise SetupError with one line if it cannot."""
    from scratchlab.plugins.registry import UnknownComponentError

    try:
        experiment_entry = registry.get("experiment", planned.experiment)
        experiment = experiment_entry.component
        missing = [c for c in experiment.uses if c not in planned.components]
        if missing:
            raise SetupError(
                f"experiment {experiment.name!r} uses {', '.join(missing)} but the run names no component for it"
            )
        entries = {
            category: registry.get(category, name) for category, name in planned.components.items()
        }
        experiment_params, component_params = split_params(
            planned.params, experiment, planned.components
        )
        bound = {
            category: guarded(
                category, bind(entry.component, component_params.get(entry.name)), entry.plugin
            )
            for category, entry in entries.items()
        }
        if "dataset" in entries:
            dataset = (bound["dataset"], entries["dataset"].version)
        else:
            # looked up on first use: an experiment without data must not need one registered
            def dataset() -> tuple[Component, str]:
                default = registry.get("dataset", DEFAULTS["dataset"])
                return guarded("dataset", bind(default.component), default.plugin), default.version
    except (UnknownComponentError, KeyError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise SetupError(str(message)) from None
    device = resolve_device(planned.device)
    dtype = resolve_dtype(planned.dtype)
    if "matmul" in entries:
        try:  # once, on a tiny problem: the timed calls themselves are never wrapped
            probe_matmul(bound["matmul"], entries["matmul"].plugin, device, dtype)
        except ContractError as exc:
            raise SetupError(str(exc)) from None
    context = RunContext(
        experiment=experiment.name,
        components=bound,
        params=experiment_params,
        device=device,
        dtype=dtype,
        seed=planned.seed,
        budget=budget,
        dataset=dataset,
        link=link,
    )
    return experiment, context


# ------------------------------------------------------------ entry point


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
    registry = _registry(registry_or_plugins)
    try:
        experiment, ctx = build_context(registry, planned, budget, link)
    except SetupError as exc:
        return RunResult(
            status="failed", reason=str(exc), started_at=started_at, finished_at=utcnow()
        )
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
