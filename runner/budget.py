"""A run's time budget: the deadline ``ctx.check_budget`` checks, and the SIGALRM
that stops a run which never checks it."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any


class BudgetExceeded(Exception):
    """The run's time budget is spent; the runner records the run as ``timeout``."""


class RunStopped(BaseException):
    """A run that caught :class:`BudgetExceeded` and went on is stopped with this: not an
    ``Exception``, so ``except Exception`` around a loop does not swallow it. Recorded as
    ``timeout`` too."""


#: seconds between the budget's end and the first :class:`RunStopped`, and between later ones
STOP_INTERVAL = 1.0


class Budget:
    """A deadline measured with ``time.monotonic``; no deadline when ``seconds`` is None."""

    def __init__(self, seconds: float | None) -> None:
        if seconds is not None and not seconds > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {seconds!r}")
        self.seconds = seconds
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        """Seconds since the budget started."""
        return time.monotonic() - self.started

    def message(self) -> str:
        """The timeout reason: the budget and how long the run had taken."""
        return f"time budget of {self.seconds:g} s exceeded after {self.elapsed:.1f} s"

    def check(self) -> None:
        """Raise :class:`BudgetExceeded` once the deadline has passed."""
        if self.seconds is not None and self.elapsed >= self.seconds:
            raise BudgetExceeded(self.message())


@contextlib.contextmanager
def alarm(budget: Budget) -> Iterator[None]:
    """Raise :class:`BudgetExceeded` in the main thread when ``budget`` runs out.

    A run that never calls ``check_budget`` (a Python loop, a ``sleep``) is
    still stopped: SIGALRM interrupts it between bytecodes. A run that catches
    that and goes on gets :class:`RunStopped` (a ``BaseException``) every
    :data:`STOP_INTERVAL` seconds after, so that ``except Exception`` cannot keep
    an inline sweep from ending. Only possible in the main thread of a process
    with SIGALRM (not on Dask worker threads, not on Windows); elsewhere this does
    nothing and ``check_budget`` is the only stop. The previous handler and any
    previous timer (pytest-timeout uses one) are restored, the timer with the
    time it had left.
    """
    usable = (
        budget.seconds is not None
        and hasattr(signal, "SIGALRM")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    fired = []

    def on_alarm(_signum: int, _frame: Any) -> None:
        fired.append(time.monotonic())
        if len(fired) == 1:
            raise BudgetExceeded(budget.message())
        raise RunStopped(
            f"{budget.message()}; the run caught the timeout and went on, so it was stopped"
        )

    previous_delay, previous_interval, armed_at = 0.0, 0.0, time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    try:
        previous_delay, previous_interval = signal.setitimer(
            signal.ITIMER_REAL, max(budget.seconds - budget.elapsed, 1e-3), STOP_INTERVAL
        )
        armed_at = time.monotonic()
        try:
            yield
        finally:
            # the alarm may fire just before this line; the outer finally disarms it again
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)  # the timer repeats: never leave it armed
        # None: the old handler was not set from Python; the default is the best we can do
        signal.signal(
            signal.SIGALRM, signal.SIG_DFL if previous_handler is None else previous_handler
        )
        if previous_delay > 0:
            # a timer that would have fired meanwhile fires right away
            remaining = previous_delay - (time.monotonic() - armed_at)
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-3), previous_interval)
