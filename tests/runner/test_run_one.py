"""run_experiment: every way a run can end becomes a status and a reason, the time budget
stops it (check_budget, or SIGALRM in the main thread) and an outer timer survives it,
runs are seeded, and the run's thread settings are the process's own again afterwards."""

from __future__ import annotations

import signal
import threading
import time

import pytest
import torch

from scratchlab.core.records import PlannedRun
from scratchlab.runner.run_one import run_experiment, run_settings

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_done_run_carries_every_record_as_plain_numbers(probe):
    result = probe("ok")
    assert result.status == "done", result.reason
    assert result.reason is None
    assert result.started_at <= result.finished_at
    assert result.started_at.tzinfo is not None  # UTC-aware
    assert [(m.name, m.value, m.step) for m in result.metrics] == [
        ("plain", 2.5, None),
        ("lazy", 1.5, 3),
    ]
    assert all(type(m.value) is float for m in result.metrics)
    (stat,) = result.stats
    assert (stat.model, stat.layer, stat.name) == ("probe", 1, "ramp")
    assert stat.mean == pytest.approx(1.5) and stat.max == 3.0 and stat.frac_zero == 0.25
    (timing,) = result.timings
    assert timing.label == "add" and timing.shape == "1x8" and timing.flops == 8.0


def test_skip_keeps_reason_and_records(probe):
    result = probe("skip")
    assert result.status == "skipped"
    assert result.reason == "nothing to do here"
    assert len(result.metrics) == 2 and len(result.timings) == 1


def test_exception_is_failed_with_traceback_and_partial_records(probe):
    result = probe("fail")
    assert result.status == "failed"
    assert "Traceback (most recent call last)" in result.reason
    assert "RuntimeError: boom in the experiment" in result.reason
    assert "record_everything" in result.reason  # the experiment's frame is in it
    assert len(result.metrics) == 2 and len(result.stats) == 1


def test_check_budget_stops_a_loop_and_keeps_records(probe):
    started = time.monotonic()
    result = probe("loop", timeout=0.5)
    assert result.status == "timeout"
    assert "time budget of 0.5 s exceeded" in result.reason
    assert time.monotonic() - started < 5
    assert [m.name for m in result.metrics] == ["plain", "lazy"]


def test_alarm_stops_a_run_that_never_checks_and_restores_the_old_handler(probe):
    def previous(_signum, _frame):
        raise AssertionError("the previous handler must not fire during the run")

    old = signal.signal(signal.SIGALRM, previous)
    outer_timer = signal.getitimer(signal.ITIMER_REAL)[0]  # pytest-timeout's, or 0
    try:
        started = time.monotonic()
        result = probe("sleep", timeout=0.5)
        elapsed = time.monotonic() - started
        assert result.status == "timeout", result.reason
        assert elapsed < 5, "a sleeping run must be interrupted, not waited for"
        assert signal.getsignal(signal.SIGALRM) is previous
        # our 0.5 s timer is gone; an outer one is back with what it had left
        assert signal.getitimer(signal.ITIMER_REAL)[0] == pytest.approx(
            max(outer_timer - elapsed, 0), abs=0.5
        )
    finally:
        signal.signal(signal.SIGALRM, old)


def test_a_previous_timer_keeps_running_after_the_run(probe):
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    signal.setitimer(signal.ITIMER_REAL, 30.0)
    try:
        assert probe("ok", timeout=5).status == "done"
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 20 < remaining <= 30, "the outer timer (e.g. pytest-timeout) must be re-armed"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not fired


def test_outside_the_main_thread_only_check_budget_stops_the_run(probe):
    results = []
    worker = threading.Thread(target=lambda: results.append(probe("loop", timeout=0.3)))
    worker.start()
    worker.join(10)
    assert not worker.is_alive()
    assert results[0].status == "timeout"


def test_bad_timeout_is_the_callers_error(registry):
    with pytest.raises(ValueError, match="positive"):
        run_experiment(
            registry, PlannedRun(key="k", experiment="nope", components={}, params={}), timeout=0
        )


def test_seed_makes_runs_repeatable(probe):
    probe("ok", seed=3)
    first = probe.seen["draw"]
    probe("ok", seed=3)
    assert probe.seen["draw"] == first
    probe("ok", seed=4)
    assert probe.seen["draw"] != first


def test_a_runs_thread_count_applies_during_the_run_only():
    before = torch.get_num_threads()
    planned = PlannedRun(key="k", experiment="e", components={}, params={}, threads=before + 1)
    with run_settings(planned):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with run_settings(PlannedRun(key="k", experiment="e", components={}, params={})):
        assert torch.get_num_threads() == before  # auto: the process's own count
