"""Timing with torch.utils.benchmark (runner/timing.py): summary statistics, replicates of
fast and slow calls, the time budget checked between measured blocks, and what every timing
says it ran under (issue 21): torch's thread counts and flags, the CPU affinity and nice
value, and the Timer's own choices, kept in its evidence and so in the database."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from scratchlab.runner.budget import Budget, BudgetExceeded
from scratchlab.runner.timing import (
    DEFAULT_MIN_REPLICATES,
    conditions,
    measure,
    quantile,
    summarise,
)

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_summary_statistics_of_known_replicates():
    record = summarise("x", [4.0, 1.0, 3.0, 2.0, 100.0], shape=(2, 3, 4), flops=10, threads=1)
    assert record.median == 3.0 and record.min == 1.0 and record.max == 100.0
    assert record.iqr == pytest.approx(
        np.percentile([1, 2, 3, 4, 100], 75) - np.percentile([1, 2, 3, 4, 100], 25)
    )
    assert record.mean == pytest.approx(22.0)
    assert record.replicates == [4.0, 1.0, 3.0, 2.0, 100.0]  # kept in measured order
    assert record.shape == "2x3x4"
    assert quantile([1.0, 2.0], 0.5) == 1.5


def test_timing_a_fast_call_gives_many_replicates_and_the_threads():
    a, b = torch.randn(64, 64), torch.randn(64, 64)
    record = measure("mm", lambda: a @ b, flops=2 * 64**3, min_run_time=0.05)
    # at least the minimum number of replicates however busy the machine (more when it is quiet)
    assert len(record.replicates) >= DEFAULT_MIN_REPLICATES
    assert record.min <= record.median <= record.max
    assert record.threads == torch.get_num_threads() == 1
    assert 1e-7 < record.median < 1e-2


def test_a_call_far_below_the_timer_resolution_is_timed_in_blocks_of_many_calls():
    # a no-op call is ~10,000x shorter than the smallest block blocked_autorange accepts, so a
    # block of one call is impossible even when other processes take the CPU in between
    # (the 64x64 matmul above can legitimately end up with one call per block on a busy machine)
    record = measure("noop", lambda: None, min_run_time=0.05)
    assert record.number_per_run > 1
    assert record.median < 1e-4


def test_timing_a_slow_call_is_capped():
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.3)

    started = time.monotonic()
    record = measure("slow", slow, min_run_time=0.05, max_run_time=1.0)
    elapsed = time.monotonic() - started
    assert record.median == pytest.approx(0.3, rel=0.3)
    assert record.number_per_run == 1
    # warm-up + blocked_autorange + top-ups until 1 s of measuring: a handful of calls, not hundreds
    assert 2 <= len(record.replicates) <= 3
    assert len(calls) <= 6 and elapsed < 3


def test_timing_checks_the_budget_between_blocks():
    budget = Budget(0.2)
    with pytest.raises(BudgetExceeded):
        measure("spin", lambda: time.sleep(0.01), min_run_time=5.0, between_blocks=budget.check)
    assert budget.elapsed < 3


def test_a_timing_records_the_threads_and_flags_it_ran_with():
    a, b = torch.randn(5, 784), torch.randn(784, 10)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            record = measure("mm", lambda: a @ b, min_run_time=0.01)
    finally:
        torch.set_num_threads(threads)
    ran = record.evidence["conditions"]
    assert ran["threads"] == 1 == record.threads
    assert ran["grad"] is False
    assert ran["flush_denormal"] is False and ran["deterministic"] is False
    # the Timer's choices, as stored beside the median
    assert ran["number_per_run"] == record.number_per_run
    assert ran["blocks"] == len(record.replicates)
    assert ran["min_run_time"] == 0.01


def test_conditions_read_this_process_now():
    now = conditions()
    assert now["threads"] == torch.get_num_threads()
    assert now["interop_threads"] == torch.get_num_interop_threads()
    assert now["grad"] is torch.is_grad_enabled()
    assert set(now["affinity"]) <= set(range(256))
    torch.set_flush_denormal(True)
    try:
        assert conditions()["flush_denormal"] is True
    finally:
        torch.set_flush_denormal(False)
