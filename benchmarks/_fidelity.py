"""The timing-fidelity verdict: per-round stored/bare ratios, their median and spread, and
whether both sides ran under the same conditions (``benchmarks/timing_fidelity.py`` measures;
this module judges, without torch, so its rules are tested on stated numbers).

The estimator is paired: each round gives one stored/bare ratio per strategy, and the target
is the median of those ratios within 10%, shown with every round's ratio. A second target
says whether the two sides ran under the same :func:`scratchlab.runner.timing.conditions`
(thread counts, torch's flags, CPU affinity, nice value, thread environment variables, the
Timer's ``min_run_time``); the Timer's own choices (calls per block, blocks) are shown
beside them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from _common import Target, iqr, median, ratio

NAN = float("nan")

#: two sides' probe readings this close (the larger over the smaller) found the machine in the
#: same state: their round is paired
PROBE_MATCH = 1.2
#: fewer paired rounds than this is no verdict (the target fails)
MIN_PAIRED = 3


@dataclass
class Measured:
    """One side's measurement of one strategy in one round: the median and IQR (seconds per
    call), the probe's verdict, the ``conditions`` it was taken under, and ``probe_s``, the
    calibration probe's time per call around and between its blocks (the state of the machine
    at that moment, :mod:`scratchlab.runner.calibration`)."""

    median: float
    iqr: float
    verdict: str
    conditions: dict = field(default_factory=dict)
    probe_s: float = NAN


MISSING = Measured(NAN, NAN, "missing")

#: the conditions both sides must share (:func:`scratchlab.runner.timing.conditions`)
SAME = (
    "threads",
    "interop_threads",
    "grad",
    "inference_mode",
    "flush_denormal",
    "deterministic",
    "mkldnn",
    "matmul_precision",
    "default_dtype",
    "affinity",
    "nice",
    "env",
    "min_run_time",
)
#: shown beside them: the Timer's own choices, and the process's Python threads
SHOWN = ("number_per_run", "blocks", "python_threads")


def ok_count(measured: Sequence[Measured]) -> int:
    """How many of the measurements were judged ``ok``."""
    return sum(m.verdict == "ok" for m in measured)


def round_ratios(stored: Sequence[float], bare: Sequence[float]) -> list[float]:
    """The per-round ratios ``stored[i] / bare[i]`` (NaN where a side has no measurement)."""
    return [ratio(s, b) for s, b in zip(stored, bare, strict=True)]


def closest(stored: Measured, candidates: Sequence[Measured]) -> Measured:
    """The bare measurement whose probe reading is nearest the stored side's (by ratio): each
    round times the bare side just before and just after its sweep, and the one taken in the
    same state of the machine as the stored timing is its pair. Chosen by the probe alone,
    never by the timing itself."""

    def distance(bare: Measured) -> float:
        both = stored.probe_s, bare.probe_s
        if not all(p > 0 for p in both):  # NaN or missing
            return math.inf
        return abs(math.log(both[0] / both[1]))

    return min(candidates, key=distance)


def same_state(stored: Measured, bare: Measured) -> bool:
    """Whether the probe found the machine in the same state for both sides of a round (within
    :data:`PROBE_MATCH`). A 2-thread µs matmul runs about 1.4x slower whenever anything else
    takes a core; on a machine at load 0.5 that comes and goes within seconds, and the two sides
    of a round are seconds apart. The probe is the same kernel at the same thread count, read
    beside each measurement in its own process, so it tells the moments apart; it cannot hide a
    stored-side slowdown of its own (a busy thread in the worker slows the worker's probe too,
    and the round is then not paired: see :func:`paired`)."""
    low, high = sorted((stored.probe_s, bare.probe_s))
    return low > 0 and high / low <= PROBE_MATCH  # NaN compares False


def paired(
    stored: Sequence[Measured], bare: Sequence[Measured], skew: float = 1.0
) -> tuple[float, float, float, float, int]:
    """(median, lowest, highest, IQR, count) of the ratios ``stored[i] / bare[i]`` of the rounds
    whose two sides found the machine in the same state (:func:`same_state`): rounds pair up,
    so a drift of the machine between rounds divides out, and a round whose sides met
    different moments is left out. NaN unless :data:`MIN_PAIRED` rounds pair, so a stored side
    that always met a busier machine (its own doing) fails."""
    ratios = [
        ratio(s.median * skew, b.median)
        for s, b in zip(stored, bare, strict=True)
        if same_state(s, b)
    ]
    ratios = [r for r in ratios if r == r]
    if len(ratios) < min(MIN_PAIRED, len(stored)):
        return NAN, NAN, NAN, NAN, len(ratios)
    return median(ratios), min(ratios), max(ratios), iqr(ratios), len(ratios)


def fidelity_targets(
    stored: dict[str, list[Measured]],
    bare: dict[str, list[Measured]],
    rounds: int,
    skew: float = 1.0,
) -> tuple[list[tuple], list[Target]]:
    """The table rows and one target per strategy from each side's per-round measurements:
    the median of the paired stored/bare ratios within 10%; ``skew`` multiplies the stored
    medians first (a deliberately wrong stored timing)."""
    rows, targets = [], []
    for name in stored:
        every = median(round_ratios([m.median * skew for m in stored[name]],
                                    [m.median for m in bare[name]]))  # fmt: skip
        r, low, high, spread, count = paired(stored[name], bare[name], skew)
        oks = f"{ok_count(stored[name])}/{len(stored[name])}", f"{ok_count(bare[name])}/{rounds}"
        rows.append(
            (name, f"{r:.3f}", f"{count}/{rounds}", f"{low:.3f}-{high:.3f}", f"{spread:.3f}",
             f"{every:.3f}", *oks)
        )  # fmt: skip
        targets.append(
            Target(
                f"{name}: stored / bare, median of the paired rounds",
                r,
                0.10,
                op="within",
                note=f"{count} of {rounds} rounds paired (both sides' probes within"
                f" {PROBE_MATCH - 1:.0%}); their ratios {low:.3f}-{high:.3f} (IQR {spread:.3f});"
                f" median of every round {every:.3f}; rounds judged ok: {oks[0]} stored,"
                f" {oks[1]} bare"
                + (f"; stored medians skewed x{skew:g} on purpose" if skew != 1 else ""),
            )
        )
    return rows, targets


def ratio_rows(stored: dict[str, list[Measured]], bare: dict[str, list[Measured]], skew=1.0):
    """One row per strategy: its stored/bare ratio in each round, ``*`` where the round is not
    paired (the two sides' probes disagreed), then one row of each round's probe readings."""
    rows = []
    for name in stored:
        cells = []
        for s, b in zip(stored[name], bare[name], strict=True):
            mark = "" if same_state(s, b) else "*"
            cells.append(f"{ratio(s.median * skew, b.median):.2f}{mark}")
        rows.append((name, *cells))
        probes = (f"{s.probe_s * 1e6:.1f}/{b.probe_s * 1e6:.1f}"
                  for s, b in zip(stored[name], bare[name], strict=True))  # fmt: skip
        rows.append(("  probe us", *probes))
    return rows


def seen(measured: Sequence[Measured], key: str) -> str:
    """The values of condition ``key`` over ``measured``, each with how often: ``2 x7``."""
    counts: dict[str, int] = {}
    for m in measured:
        value = m.conditions.get(key, "not recorded") if m.conditions else "not recorded"
        text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
        counts[text] = counts.get(text, 0) + 1
    return ", ".join(f"{text} x{count}" for text, count in counts.items())


def conditions_compared(
    stored: dict[str, list[Measured]], bare: dict[str, list[Measured]]
) -> tuple[list[tuple], Target]:
    """Rows (condition, stored side's values, bare side's values, same?) over every round and
    strategy, and the target: none of :data:`SAME` differs between the sides (the values of
    :data:`SHOWN` are listed, not judged)."""
    every_stored = [m for name in stored for m in stored[name] if m is not MISSING]
    every_bare = [m for name in bare for m in bare[name]]
    rows, differing = [], []
    for key in (*SAME, *SHOWN):
        ours, theirs = seen(every_stored, key), seen(every_bare, key)
        same = ours == theirs if key in SAME else "(shown)"
        if same is False:
            differing.append(key)
        rows.append((key, ours, theirs, {True: "same", False: "DIFFERS"}.get(same, same)))
    target = Target(
        f"conditions that differ between the sides (of {len(SAME)})",
        float(len(differing)),
        0,
        unit="",
        note="differ: " + ", ".join(differing)
        if differing
        else "threads, flags, affinity, nice, environment and min_run_time the same in every round",
    )
    return rows, target
