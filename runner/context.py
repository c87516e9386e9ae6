"""The run context: what an experiment's ``run(ctx)`` receives.

A :class:`RunContext` holds the run's bound components, params, device, dtype, seed and
data, and the recorders (``timing``, ``stats``, ``watch``, ``histograms``, ``metric``,
``report``, ``note``, ``check_budget``); :meth:`RunContext.result` turns what was
recorded into a :class:`~scratchlab.core.records.RunResult`. It is the API plugin
authors see; :mod:`scratchlab.runner.run_setup` builds it for a planned run and
:mod:`scratchlab.runner.run_one` runs the experiment with it.

torch is imported inside functions only, so that modules which import this
one (the sweep command) keep ``runner --help`` free of torch.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from scratchlab.core.records import RunResult, TimingRecord
from scratchlab.plugins.histograms import Binning, HistogramBuffer, watch_histograms
from scratchlab.plugins.stats import RecordBuffer, watch_children
from scratchlab.plugins.types import Component, DataSplits
from scratchlab.runner import timing as timing_mod
from scratchlab.runner.budget import Budget
from scratchlab.runner.live import Link, Pruned, alarm_held
from scratchlab.runner.rundata import load_dataset, move_splits

__all__ = ["RunContext", "utcnow"]


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
