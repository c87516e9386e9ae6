"""Bounded values for the command line and the Python API: one place for each limit.

Every integer a user types ends up in SQL, in ``range()``, in a seed or in a
timer, so each has a stated range and is refused outside it with one line
(click's ``BadParameter``: exit 2) before anything is read or written:

- ids (runs, sweeps) fit the database's integer column: 1..2**63-1;
- ``--repeat`` is at most :data:`MAX_REPEAT`, and a seed 0..2**32-1 with
  every repeat's seed (``seed + repeat - 1``) in that range: numpy's
  ``np.random.seed`` takes 0..2**32-1 (torch's ``manual_seed`` takes up to
  2**64-1, SQLite stores up to 2**63-1);
- ``--limit``/``--offset`` are at most :data:`MAX_ROWS`;
- a timeout is a finite number of seconds in (0, :data:`MAX_TIMEOUT_S`]:
  ``nan`` passes every ``<``/``>`` test and ``inf`` overflows the timers.

:func:`check_sweep_numbers` applies the same limits to values that do not come
through click (a config file, the notebook API). Nothing here imports torch.
"""

from __future__ import annotations

import math
from typing import Any

import click

from scratchlab.runner.spec import MAX_PLAN_RUNS

#: the database's integer range (SQLite INTEGER, PostgreSQL BIGINT)
MAX_DB_INT = 2**63 - 1
#: most runs of one combination a sweep plans
MAX_REPEAT = 10_000
#: seeds numpy, torch and the database all accept
MAX_SEED = 2**32 - 1
#: most rows a listing shows or skips
MAX_ROWS = 2**31 - 1
#: longest run timeout: one week
MAX_TIMEOUT_S = 7 * 24 * 3600.0
#: most worker processes of a local cluster
MAX_WORKERS = 1024
#: most rounds of re-measuring noisy runs
MAX_RETRIES = 10
#: most runs a worker may be given before it is replaced (--max-runs-per-worker)
MAX_RUNS_PER_WORKER = 2**31 - 1


class BoundsError(ValueError):
    """A number outside its stated range; the message names the value, the option and the range."""


def check_int(value: Any, name: str, lo: int, hi: int) -> int:
    """``value`` as an int in ``lo..hi``, or :class:`BoundsError` naming ``name`` and the range."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise BoundsError(f"{name}: {value!r} is not an integer") from None
    if not lo <= value <= hi:
        raise BoundsError(f"{name}: {_short(value)} is out of range; expected {lo}..{hi}")
    return value


def check_seconds(value: Any, name: str = "--timeout") -> float:
    """``value`` as finite seconds in (0, :data:`MAX_TIMEOUT_S`], or :class:`BoundsError`."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise BoundsError(f"{name}: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT_S:
        raise BoundsError(
            f"{name}: {_short(value)} is not a usable timeout; expected seconds > 0 and at most {MAX_TIMEOUT_S:g}"
        )
    return seconds


def check_sweep_numbers(repeat: int, seed: int, max_runs: int = 1) -> None:
    """The sweep's repeat, seed and max-runs limits, whatever set them (flag, config file, API)."""
    check_int(repeat, "repeat", 1, MAX_REPEAT)
    check_int(seed, "seed", 0, MAX_SEED)
    check_int(max_runs, "max-runs", 1, MAX_PLAN_RUNS)
    if seed + repeat - 1 > MAX_SEED:
        raise BoundsError(
            f"seed {seed} with repeat {repeat} gives seeds up to {seed + repeat - 1}; the largest seed is {MAX_SEED}"
        )


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} digits)"


class BoundedInt(click.ParamType):
    """An integer option or argument in ``lo..hi``; out of range is one line, exit 2."""

    name = "integer"

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """Parse and bound ``value``."""
        if isinstance(value, int) and not isinstance(value, bool) and self.lo <= value <= self.hi:
            return value
        try:
            return check_int(value, "value", self.lo, self.hi)
        except BoundsError:
            self.fail(f"{_short(value)} is not an integer in {self.lo}..{self.hi}", param, ctx)

    def __repr__(self) -> str:
        return f"BoundedInt({self.lo}, {self.hi})"


class Seconds(click.ParamType):
    """A timeout: finite seconds in (0, :data:`MAX_TIMEOUT_S`]."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Parse and bound ``value``."""
        try:
            return check_seconds(value)
        except BoundsError:
            self.fail(
                f"{_short(value)} is not a usable timeout; expected seconds > 0 and at most"
                f" {MAX_TIMEOUT_S:g}",
                param,
                ctx,
            )


#: a run or sweep id
DB_ID = BoundedInt(1, MAX_DB_INT)
#: --repeat
REPEAT = BoundedInt(1, MAX_REPEAT)
#: --seed
SEED = BoundedInt(0, MAX_SEED)
#: --limit / --offset
ROWS = BoundedInt(0, MAX_ROWS)
#: --workers
WORKERS = BoundedInt(1, MAX_WORKERS)
#: --retry-noisy
RETRIES = BoundedInt(0, MAX_RETRIES)
#: --max-runs-per-worker
RUNS_PER_WORKER = BoundedInt(1, MAX_RUNS_PER_WORKER)
#: --max-runs
PLAN_RUNS = BoundedInt(1, MAX_PLAN_RUNS)
#: --timeout
SECONDS = Seconds()
