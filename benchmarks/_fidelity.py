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
from collections.abc import Sequence
from dataclasses import dataclass, field

from _common import Target, iqr, median, ratio


@dataclass
class Measured:
    """One side's measurement of one strategy in one round: the median and IQR (seconds per
    call), the probe's verdict, and the ``conditions`` it was taken under."""

    median: float
    iqr: float
    verdict: str
    conditions: dict = field(default_factory=dict)


MISSING = Measured(float("nan"), float("nan"), "missing")


NAN = float("nan")

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


def paired(stored: list[float], bare: list[float]) -> tuple[float, float, float, float]:
    """(median, lowest, highest, IQR) of the per-round ratios ``stored[i] / bare[i]``: rounds
    pair up, so a drift of the machine between rounds divides out. NaN for no pair."""
    ratios = [r for r in round_ratios(stored, bare) if r == r]
    if not ratios:
        return NAN, NAN, NAN, NAN
    return median(ratios), min(ratios), max(ratios), iqr(ratios)


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
        stored_medians = [m.median * skew for m in stored[name]]
        bare_medians = [m.median for m in bare[name]]
        r, low, high, spread = paired(stored_medians, bare_medians)
        oks = f"{ok_count(stored[name])}/{len(stored[name])}", f"{ok_count(bare[name])}/{rounds}"
        rows.append(
            (
                name,
                f"{median(stored_medians) * 1e6:.2f} us",
                f"{median(bare_medians) * 1e6:.2f} us",
                f"{r:.3f}",
                f"{low:.3f}-{high:.3f}",
                f"{spread:.3f}",
                *oks,
            )
        )
        targets.append(
            Target(
                f"{name}: stored / bare, median of {rounds} paired rounds",
                r,
                0.10,
                op="within",
                note=f"per-round ratios {low:.3f}-{high:.3f} (IQR {spread:.3f});"
                f" rounds judged ok: {ok_count(stored[name])} stored,"
                f" {ok_count(bare[name])} bare of {rounds}"
                + (f"; stored medians skewed x{skew:g} on purpose" if skew != 1 else ""),
            )
        )
    return rows, targets


def ratio_rows(stored: dict[str, list[Measured]], bare: dict[str, list[Measured]], skew=1.0):
    """One row per strategy: its stored/bare ratio in each round (the spread the median hides)."""
    return [
        (
            name,
            *(
                f"{r:.2f}"
                for r in round_ratios(
                    [m.median * skew for m in stored[name]], [m.median for m in bare[name]]
                )
            ),
        )
        for name in stored
    ]


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
