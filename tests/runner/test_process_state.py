"""The process's own state as aspects: each is read, described in one phrase when a run changed
it, and put back (runner/process_state.py; the real sweeps are in test_isolation.py)."""

from __future__ import annotations

import gc
import os
import signal
import sys
import warnings

import pytest

from scratchlab.runner.process_state import process_aspects


def aspect(name):
    return {a.name: a for a in process_aspects()}[name]


CHANGES = {
    "cwd": (lambda: os.chdir("/"), "working directory"),
    "environ": (lambda: os.environ.__setitem__("SCRATCHLAB_POLLUTED", "1"), "SCRATCHLAB_POLLUTED"),
    "path": (lambda: sys.path.insert(0, "/polluted"), "sys.path"),
    "warnings": (lambda: warnings.simplefilter("error"), "warnings filters"),
    "recursion": (lambda: sys.setrecursionlimit(sys.getrecursionlimit() + 7), "recursion limit"),
    "gc": (gc.disable, "garbage collection"),
    "handlers": (lambda: signal.signal(signal.SIGUSR2, lambda *_: None), "SIGUSR2"),
    # the virtual timer (CPU time: it cannot fire here); pytest-timeout may hold the real one
    "timers": (lambda: signal.setitimer(signal.ITIMER_VIRTUAL, 300), "virtual timer"),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_changed_piece_of_process_state_is_named_and_put_back(name):
    state = aspect(name)
    before = state.read()
    change, words = CHANGES[name]
    try:
        change()
        after = state.read()
        assert words in state.describe(before, after)
    finally:
        state.write(before)
    if name == "timers":  # a timer is disarmed, not restored to the time it had left
        assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)
    else:
        assert state.read() == before


def test_an_environment_that_only_grew_counts_as_grown():
    state = aspect("environ")
    before = state.read()
    os.environ["SCRATCHLAB_ADDED"] = "1"
    try:
        assert state.grows(before, state.read())
    finally:
        state.write(before)
    assert "SCRATCHLAB_ADDED" not in os.environ
