"""What a run tells the driver while it runs: metric batches, and values a pruner judges.

A run's context (:class:`~scratchlab.runner.context.RunContext`) holds a *link* to the
driver, the single database writer:

- every :data:`LIVE_INTERVAL` seconds or so, the metrics recorded since the last batch go
  to the driver, which stores them at once (``Store.stream_metrics``), so a running run's
  curves can be watched and a run killed later keeps them;
- ``ctx.report(name, value, step)`` of a metric the search judges (its objective, when
  ``--prune`` is on) sends the value and waits for the verdict; a run told to stop raises
  :class:`Pruned` there, and is stored as ``pruned`` with the step and the value.

Links: :class:`Link` (nothing live: a Dask run, a run outside a sweep), :class:`DirectLink`
(the inline backend: calls the driver in this process) and :class:`PipeLink` (a supervised
worker: messages on the worker's pipe). The driver's side is a :class:`LiveSink`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: seconds between metric batches of a running run (a batch leaves at the first metric
#: recorded after this; the issue's bound is "at most about 2 s apart")
LIVE_INTERVAL = 1.0


class Pruned(Exception):
    """The search's pruner stopped this run at a reported value; the message says where."""


@dataclass(frozen=True)
class LiveOptions:
    """What the driver wants from one run while it runs: batches every ``interval``
    seconds, and a verdict on each reported value of a metric in ``judged``."""

    interval: float = LIVE_INTERVAL
    judged: tuple[str, ...] = ()


class LiveSink(Protocol):
    """The driver's side: it stores batches and judges reported values."""

    def options(self, run_id: int) -> LiveOptions:
        """What run ``run_id`` should send while it runs."""

    def metrics(self, run_id: int, records: Sequence[Any]) -> None:
        """Store a batch of ``MetricRecord`` of a running run."""

    def judge(self, run_id: int, name: str, step: int, value: float) -> str | None:
        """A reason to stop run ``run_id`` at this reported value, or None to go on."""


class Link:
    """A run with nothing live: metrics go with the result, reports are never judged."""

    options = LiveOptions(interval=float("inf"))

    def send_metrics(self, records: Sequence[Any]) -> None:
        """Send a batch of metrics to the driver (here: nowhere)."""

    def judge(self, name: str, step: int, value: float) -> str | None:
        """The driver's verdict on a reported value (here: always go on)."""
        return None


class DirectLink(Link):
    """The inline backend's link: the driver's sink is called in this process."""

    def __init__(self, sink: LiveSink, run_id: int) -> None:
        self.sink, self.run_id = sink, run_id
        self.options = sink.options(run_id)

    def send_metrics(self, records: Sequence[Any]) -> None:
        """Hand the batch to the driver's sink."""
        self.sink.metrics(self.run_id, records)

    def judge(self, name: str, step: int, value: float) -> str | None:
        """Ask the driver's sink."""
        return self.sink.judge(self.run_id, name, step, value)


class PipeLink(Link):
    """A supervised worker's link: ``("metrics", records)`` and ``("report", name, step,
    value)`` messages on the worker's pipe; the driver answers a report with
    ``("verdict", reason_or_None)``. Runs the driver sent ahead may arrive while the run
    waits for a verdict: they are kept in ``stash`` for the worker's loop."""

    def __init__(self, conn: Any, options: LiveOptions, stash: deque) -> None:
        self.conn, self.options, self.stash = conn, options, stash

    def send_metrics(self, records: Sequence[Any]) -> None:
        """Send the batch up the pipe."""
        self.conn.send(("metrics", list(records)))

    def judge(self, name: str, step: int, value: float) -> str | None:
        """Send the value and wait for the driver's verdict."""
        self.conn.send(("report", name, step, value))
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                return None  # the driver is gone; this worker dies with it
            if isinstance(message, tuple) and message and message[0] == "verdict":
                return message[1]
            self.stash.append(message)


@contextlib.contextmanager
def alarm_held() -> Iterator[None]:
    """Hold SIGALRM (the run's time budget) for the block: a message to the driver is never
    cut in half, nor sent without the run knowing it was; an alarm due meanwhile fires after."""
    if (
        not hasattr(signal, "pthread_sigmask")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def pruned_reason(name: str, step: int, value: float, pruner: str) -> str:
    """The reason a pruned run is stored with: the step and the value it was stopped at."""
    return f"pruned at step {step}: {name}={value:.6g} (the {pruner} pruner)"
