"""Schedules of 05_anneal: each component's values against its formula."""

from __future__ import annotations

import math

import pytest

from scratchlab.plugins import bind
from scratchlab.plugins.schedules import combine_scheds, sched_cos, sched_lin, schedules

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

POSITIONS = [0.0, 0.1, 0.25, 0.3, 0.5, 0.77, 0.999, 1.0]
LR = 0.4


def schedule(name, **params):
    return bind(next(s for s in schedules() if s.name == name), params).fn


@pytest.mark.parametrize(
    ("name", "params", "formula"),
    [
        ("constant", {}, lambda pos: LR),
        ("linear", {}, lambda pos: LR * (1 - pos)),
        ("linear", {"start": 0.0, "end": 1.0}, lambda pos: LR * pos),
        ("cosine", {}, lambda pos: LR * (1 + math.cos(math.pi * pos)) / 2),
        ("exponential", {}, lambda pos: LR * 0.01**pos),
        ("exponential", {"start": 0.01, "end": 1.0}, lambda pos: LR * 0.01 * 100**pos),
    ],
)
def test_values_follow_the_formula(name, params, formula):
    fn = schedule(name, **params)
    for pos in POSITIONS:
        assert fn(LR, pos) == pytest.approx(formula(pos), rel=1e-12, abs=1e-15)


def test_one_cycle_is_two_cosines_joined_at_pct():
    """Up from lr/10 to lr over the first 30%, down to lr*1e-5 over the rest (05_anneal's
    combine_scheds([0.3, 0.7], [sched_cos(start, high), sched_cos(high, end)]))."""
    fn = schedule("one-cycle")
    assert fn(LR, 0.0) == pytest.approx(LR / 10)
    assert fn(LR, 0.3) == pytest.approx(LR)
    assert fn(LR, 1.0) == pytest.approx(LR * 1e-5)
    for pos in (0.05, 0.15, 0.29):
        assert fn(LR, pos) == pytest.approx(
            LR / 10 + (1 - math.cos(math.pi * pos / 0.3)) / 2 * (LR - LR / 10)
        )
    for pos in (0.31, 0.6, 0.95):
        inner = (pos - 0.3) / 0.7
        assert fn(LR, pos) == pytest.approx(
            LR + (1 - math.cos(math.pi * inner)) / 2 * (LR * 1e-5 - LR)
        )
    values = [fn(LR, i / 100) for i in range(101)]
    peak = values.index(max(values))
    assert peak == 30
    assert values[:31] == sorted(values[:31]) and values[30:] == sorted(values[30:], reverse=True)


def test_combine_scheds_reproduces_the_lessons_example():
    """05_anneal: combine_scheds([0.3, 0.7], [sched_cos(0.3, 0.6), sched_cos(0.6, 0.2)])."""
    sched = combine_scheds([0.3, 0.7], [sched_cos(0.3, 0.6), sched_cos(0.6, 0.2)])
    assert sched(0.0) == pytest.approx(0.3)
    assert sched(0.15) == pytest.approx(0.45)  # half-way up the first cosine
    assert sched(0.3) == pytest.approx(0.6)
    assert sched(0.65) == pytest.approx(0.4)  # half-way down the second
    assert sched(1.0) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("pcts", "message"), [([0.5, 0.6], "sum to 1"), ([1.2, -0.2], ">= 0"), ([1.0], "one fraction")]
)
def test_combine_scheds_refuses_bad_fractions(pcts, message):
    with pytest.raises(ValueError, match=message):
        combine_scheds(pcts, [sched_lin(0, 1)] * 2)


def test_every_schedule_starts_ends_and_stays_positive_where_it_should():
    for s in schedules():
        fn = s.fn
        values = [fn(LR, i / 50) for i in range(51)]
        assert all(v >= 0 for v in values), s.name
        assert max(values) <= LR * (1 + 1e-12), s.name
