"""Every timing says what it ran under (issue 21): torch's thread counts and flags, the CPU
affinity and nice value, and the Timer's own choices, kept in its evidence and so in the
database (runner/timing.py)."""

from __future__ import annotations

import torch

from scratchlab.runner.timing import conditions, measure


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
