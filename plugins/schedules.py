"""Learning-rate schedules, from the lessons' 05_anneal.

A schedule maps the position in training, ``pos`` from 0 (first step) to 1
(the end), to a learning rate. The lessons build them from *annealers*,
``sched(start, end)(pos)``, and glue several into one with
:func:`combine_scheds` (one-cycle: a cosine warm-up then a cosine decay).

As a component, a schedule is ``fn(lr, pos, **params) -> learning rate``:
``lr`` is the training's ``lr`` param, the peak rate, and the params give the
other rates as fractions of it, so sweeping ``lr`` scales the whole curve.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scratchlab.plugins import hookimpl
from scratchlab.plugins.contracts import in_range, non_negative, positive
from scratchlab.plugins.training_types import SCHEDULE, Schedule

Annealer = Callable[[float], float]


def sched_no(start: float, end: float) -> Annealer:
    """The lessons' ``sched_no``: always ``start``."""
    return lambda pos: start


def sched_lin(start: float, end: float) -> Annealer:
    """The lessons' ``sched_lin``: ``start + pos * (end - start)``."""
    return lambda pos: start + pos * (end - start)


def sched_cos(start: float, end: float) -> Annealer:
    """The lessons' ``sched_cos``: ``start + (1 + cos(pi * (1 - pos))) * (end - start) / 2``."""
    return lambda pos: start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def sched_exp(start: float, end: float) -> Annealer:
    """The lessons' ``sched_exp``: ``start * (end / start) ** pos`` (both must be positive)."""
    if start <= 0 or end <= 0:
        raise ValueError(f"an exponential schedule needs positive rates, got {start} -> {end}")
    return lambda pos: start * (end / start) ** pos


def combine_scheds(pcts: Sequence[float], scheds: Sequence[Annealer]) -> Annealer:
    """The lessons' ``combine_scheds``: ``scheds[i]`` runs over the fraction ``pcts[i]`` of training.

    Each piece sees its own position from 0 to 1. ``pcts`` must be non-negative and sum to 1;
    ``pos`` 1 (and beyond) is the last piece's end, which the lessons' version indexed past.
    """
    if len(pcts) != len(scheds) or not pcts:
        raise ValueError(
            f"combine_scheds needs one fraction per schedule, got {len(pcts)} and {len(scheds)}"
        )
    if any(p < 0 for p in pcts) or not math.isclose(sum(pcts), 1.0):
        raise ValueError(f"schedule fractions must be >= 0 and sum to 1, got {list(pcts)}")
    edges = [0.0, *itertools.accumulate(pcts)]

    def combined(pos: float) -> float:
        if pos >= 1.0:
            return scheds[-1](1.0)
        # the last piece whose start is at or before pos (skips zero-width pieces)
        idx = min(bisect.bisect_right(edges, pos) - 1, len(scheds) - 1)
        return scheds[idx]((pos - edges[idx]) / (edges[idx + 1] - edges[idx]))

    return combined


# --------------------------------------------------------------- components


def constant(lr: float, pos: float) -> float:
    """``lr`` throughout (the lessons' loop before 05_anneal)."""
    return sched_no(lr, lr)(pos)


def linear(lr: float, pos: float, *, start: float = 1.0, end: float = 0.0) -> float:
    """Linear from ``start * lr`` to ``end * lr``."""
    return sched_lin(start * lr, end * lr)(pos)


def cosine(lr: float, pos: float, *, start: float = 1.0, end: float = 0.0) -> float:
    """Cosine from ``start * lr`` to ``end * lr``."""
    return sched_cos(start * lr, end * lr)(pos)


def exponential(lr: float, pos: float, *, start: float = 1.0, end: float = 0.01) -> float:
    """Exponential from ``start * lr`` to ``end * lr``."""
    return sched_exp(start * lr, end * lr)(pos)


def one_cycle(
    lr: float, pos: float, *, pct: float = 0.3, start: float = 0.1, end: float = 1e-5
) -> float:
    """The lessons' one-cycle: cosine from ``start * lr`` up to ``lr`` over the first ``pct``
    of training, then cosine down to ``end * lr`` (``combine_scheds([pct, 1-pct], ...)``;
    the fractions are 11_train_imagenette's ``lr/10`` and ``lr/1e5``)."""
    return combine_scheds([pct, 1 - pct], [sched_cos(start * lr, lr), sched_cos(lr, end * lr)])(pos)


#: name -> (fn, params with defaults, description)
SCHEDULES: Mapping[str, tuple[Callable[..., float], dict[str, Any], str]] = {
    "constant": (constant, {}, "The training lr throughout."),
    "linear": (linear, {"start": 1.0, "end": 0.0}, "Linear from start*lr to end*lr."),
    "cosine": (
        cosine,
        {"start": 1.0, "end": 0.0},
        "Cosine from start*lr to end*lr (05_anneal sched_cos).",
    ),
    "exponential": (
        exponential,
        {"start": 1.0, "end": 0.01},
        "Exponential from start*lr to end*lr.",
    ),
    "one-cycle": (
        one_cycle,
        {"pct": 0.3, "start": 0.1, "end": 1e-5},
        "Cosine up from start*lr to lr over pct of training, then down to end*lr (combine_scheds).",
    ),
}


@hookimpl
def register_categories(register):
    """Add the ``schedule`` category (default ``constant``)."""
    register(SCHEDULE)


@hookimpl
def register_schedules(register):
    """Register constant, linear, cosine, exponential and one-cycle."""
    for schedule in schedules():
        register(schedule)


#: rates are fractions of lr (exponential's must be > 0); one-cycle's pct is a fraction of training
BOUNDS: Mapping[str, Mapping[str, Any]] = {
    "linear": {"start": non_negative, "end": non_negative},
    "cosine": {"start": non_negative, "end": non_negative},
    "exponential": {"start": positive, "end": positive},
    "one-cycle": {"pct": in_range(0, 1), "start": non_negative, "end": non_negative},
}


def schedules() -> list[Schedule]:
    """The built-in schedule components."""
    return [
        Schedule(name=n, fn=fn, params=p, description=d, bounds=BOUNDS.get(n, {}))
        for n, (fn, p, d) in SCHEDULES.items()
    ]
