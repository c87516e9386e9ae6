"""The engine's parts: devices, environment, interrupts, observer hooks and the live progress bar."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scratchlab.plugins import hookimpl
from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.environment import (
    DeviceError,
    capture_environment,
    check_devices,
    git_revision,
)
from scratchlab.runner.execute import HookCaller, InterruptGuard, sweep_status


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        (["gpu"], "unknown device 'gpu'"),
        (["cuda:x"], "unknown device"),
        (["cpu:1"], "there is one cpu device"),
    ],
)
def test_unknown_devices_are_refused(devices, message):
    with pytest.raises(DeviceError, match=message):
        check_devices(devices)


def test_cuda_is_refused_where_torch_sees_no_gpu_and_cpu_is_always_fine():
    torch = pytest.importorskip("torch")
    check_devices(["cpu"])
    if torch.cuda.is_available():
        check_devices(["cuda"])
        with pytest.raises(DeviceError, match="not available"):
            check_devices([f"cuda:{torch.cuda.device_count()}"])
    else:
        with pytest.raises(DeviceError, match="sees no CUDA GPU"):
            check_devices(["cuda:0"])


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_git_revision_and_dirty_flag_of_the_working_directory(tmp_path: Path):
    assert git_revision(tmp_path) is None
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    (tmp_path / "f.txt").write_text("1")
    for args in (["init", "-q"], ["add", "f.txt"], ["commit", "-qm", "one"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, env=env)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    assert git_revision(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "f.txt").write_text("2")
    assert git_revision(tmp_path) == {"commit": head, "dirty": True}
    env_record = capture_environment(load_plugins(builtins=()), directory=tmp_path)
    assert env_record["git"] == {"commit": head, "dirty": True}


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_stop_signal_inside_a_deferred_block_waits_for_the_block_to_end(signum):
    finished = []
    before = signal.getsignal(signum)
    with InterruptGuard() as guard, pytest.raises(KeyboardInterrupt):
        with guard.deferred():
            os.kill(os.getpid(), signum)
            time.sleep(0.05)  # the signal has been delivered by now ...
            finished.append("write")  # ... and the write still completes
        finished.append("after")  # never reached: raised when the block ended
    assert finished == ["write"]
    assert guard.signum == signum  # what the sweep's reason and exit code (128 + signum) name
    assert signal.getsignal(signum) is before  # restored


class Observer:
    """Records calls; its run_finished takes only some of the hook's arguments."""

    def __init__(self, calls: list, fail: bool = False) -> None:
        self.calls, self.fail = calls, fail

    @hookimpl
    def run_finished(self, run, result):
        if self.fail:
            raise RuntimeError("observer failed")
        self.calls.append((run["run_id"], result))


def test_each_observer_runs_even_when_another_raises_and_the_failure_is_warned_once():
    plugins = load_plugins(builtins=())
    calls: list = []
    plugins.pm.register(Observer(calls), name="good")
    plugins.pm.register(Observer(calls, fail=True), name="bad")
    warnings: list[str] = []
    hooks = HookCaller(plugins, warnings.append)
    for run_id in (1, 2):
        hooks("run_finished", sweep={}, run={"run_id": run_id}, result="ok")
    assert calls == [(1, "ok"), (2, "ok")]
    assert warnings == [
        "plugin 'bad': run_finished hook failed: RuntimeError: observer failed"
        " (further failures of this hook are not shown)"
    ]


@pytest.mark.parametrize(
    ("counts", "interrupted", "status"),
    [
        ({"done": 3, "skipped": 1}, False, "done"),
        ({"done": 3, "timeout": 1}, False, "failed"),
        ({"done": 1, "pending": 2}, False, "failed"),
        ({"done": 3}, True, "interrupted"),
    ],
)
def test_the_sweep_status_follows_its_runs(counts, interrupted, status):
    assert sweep_status(counts, interrupted) == status


def read_terminal(master: int, process: subprocess.Popen, timeout: float) -> str:
    """Everything written to the pseudo-terminal until the process ends."""
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow  # a subprocess or real sweep: tens of seconds on a busy machine
def test_an_interactive_terminal_gets_the_live_bar_with_counts_and_the_current_run(
    toy_path, db_file
):
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scratchlab.runner.cli",
            "--db",
            f"sqlite:///{db_file}",
            "--plugin",
            "sweeptoy",
            "sweep",
            "--experiments",
            "sleepy,boom",
            "--matmul",
            "toy-a",
            "-s",
            "sleepy.seconds=0.5",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env={**os.environ, "COLUMNS": "160"},
    )
    os.close(slave)
    try:
        # generous limits: on a busy machine the worker's start (torch, the plugins) takes a while
        screen = read_terminal(master, process, timeout=240)
        process.wait(timeout=60)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert process.returncode == 1
    assert "sleepy() cpu #0" in plain  # the current run, while it runs
    assert "1 done · 1 failed" in plain
    assert "2/2" in plain
    assert (
        "failed boom(toy-a) cpu #0: RuntimeError: boom on purpose" in plain
    )  # printed above the bar
    assert "\x1b[" in screen  # a live display, not log lines
    assert "[1/2]" not in plain


def test_a_busy_machine_is_warned_about_and_recorded():
    from scratchlab.runner.environment import busy_warning, capture_environment

    environment = capture_environment()
    assert len(environment["cpu"]["load_average"]) == 3
    calm = {"cpu": {"usable": 2, "load_average": [0.5, 0.4, 0.3]}}
    busy = {"cpu": {"usable": 2, "load_average": [3.25, 2.0, 1.0]}}
    assert busy_warning(calm) is None
    assert busy_warning(busy) == (
        "the machine is busy (load average 3.2 on 2 usable CPUs): timings will include the contention"
    )


def test_a_huge_reason_is_cut_to_its_head_and_tail_and_says_so():
    from scratchlab.runner.execute import REASON_LIMIT, bounded_reason

    reason = "Traceback (most recent call last):\n" + "x" * 20_000_000 + "\nValueError: end"
    cut = bounded_reason(reason)
    assert len(cut) < REASON_LIMIT + 100
    assert cut.startswith("Traceback") and cut.endswith("ValueError: end")
    assert "characters cut: the reason had 20,000,051" in cut
    assert bounded_reason("short") == "short"
