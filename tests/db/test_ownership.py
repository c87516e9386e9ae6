"""Who owns a running sweep, read from real processes: a stopped process is alive and
stopped, a dead or reaped one is gone, and a pid that started after the sweep's last
heartbeat is not its driver (the pid was reused)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from scratchlab.db.ownership import Owner, live_owner, process_state

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def wait_state(process: subprocess.Popen, wanted: str | None, since=None) -> str | None:
    """``process_state`` once it is ``wanted`` (a signal is delivered asynchronously)."""
    deadline = time.monotonic() + 10
    while (state := process_state(process.pid, since)) != wanted and time.monotonic() < deadline:
        time.sleep(0.02)
    return state


@pytest.fixture
def sleeper():
    """A real ``sleep`` process, killed and reaped at teardown."""
    process = subprocess.Popen(["sleep", "120"])
    yield process
    process.kill()
    process.wait()


def row(pid: int, beat_age_s: float) -> SimpleNamespace:
    """A ``sweeps`` row owned by ``pid`` on this host, its last heartbeat ``beat_age_s`` ago."""
    return SimpleNamespace(
        status="running",
        owner_host=Owner.this_process().host,
        owner_pid=pid,
        heartbeat_at=datetime.now(UTC) - timedelta(seconds=beat_age_s),
    )


def test_a_stopped_process_is_alive_and_stopped(sleeper):
    assert process_state(sleeper.pid) in ("S", "R")
    sleeper.send_signal(signal.SIGSTOP)
    assert wait_state(sleeper, "T") == "T"
    sleeper.send_signal(signal.SIGCONT)
    assert wait_state(sleeper, "S") == "S"


def test_a_dead_process_is_gone_reaped_or_not(sleeper):
    sleeper.kill()
    assert wait_state(sleeper, None) is None  # a zombie until reaped: gone all the same
    sleeper.wait()
    assert process_state(sleeper.pid) is None


def test_a_process_younger_than_the_heartbeat_is_not_its_writer(sleeper):
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    assert process_state(sleeper.pid, since=long_ago) is None
    assert process_state(sleeper.pid, since=datetime.now(UTC)) is not None


def test_a_stopped_owner_holds_its_sweep_whatever_its_heartbeat_says(sleeper, monkeypatch):
    from scratchlab.db import ownership

    # a heartbeat stale after 1 s, so that a real owner can be older than its last heartbeat
    # (as a driver is) and that heartbeat stale without waiting the real grace period
    monkeypatch.setattr(ownership, "STALE_AFTER_S", 1.0)
    time.sleep(3)
    sleeper.send_signal(signal.SIGSTOP)
    wait_state(sleeper, "T")
    held = live_owner(row(sleeper.pid, 1.5))
    assert held is not None and "it is stopped" in held and f"kill -CONT {sleeper.pid}" in held
    assert "it is stopped" in live_owner(row(sleeper.pid, 0.5))
    sleeper.send_signal(signal.SIGCONT)
    wait_state(sleeper, "S")
    silent = live_owner(row(sleeper.pid, 1.5))
    assert silent is not None and "heartbeat stopped but it still runs" in silent
    assert live_owner(row(sleeper.pid, 0.5)).endswith("s ago)")  # live: no hint
    sleeper.kill()
    sleeper.wait()
    assert live_owner(row(sleeper.pid, 0.5)) is None  # dead on this host: free at once
