"""``runner report`` (``runner/cli/report.py``): the Streamlit command line it runs,
serving the app on the sample database and stopping with it."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest

from scratchlab.reports.browser import free_port, wait_for
from scratchlab.runner.cli.report import streamlit_command


def test_report_command_line_passes_the_database_after_the_separator():
    command = streamlit_command("sqlite:///x.db", port=8600, headless=True, address="127.0.0.1")
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("reports/server.py")
    assert command[-3:] == ["--", "--db", "sqlite:///x.db"]
    assert command[command.index("--server.port") + 1] == "8600"
    assert command[command.index("--server.headless") + 1] == "true"


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_report_serves_the_app_and_stops_with_it(sample_db, tmp_path):
    port = free_port()
    health = f"http://127.0.0.1:{port}/_stcore/health"
    with (tmp_path / "report.log").open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scratchlab.runner.cli",
                "--db",
                sample_db.url,
                "report",
                "--no-browser",
                "--port",
                str(port),
                "--address",
                "127.0.0.1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            assert wait_for(health, timeout=60) == "ok"
        finally:
            process.terminate()
            assert process.wait(timeout=30) == 0
    # the terminate reached the streamlit server: nothing answers on the port any more
    with pytest.raises(OSError):
        urllib.request.urlopen(health, timeout=2)


def test_report_asks_nothing_outside_the_machine(sample_db, tmp_path):
    """Issue 24 item 19: headless, with no address given, Streamlit looked the machine's
    external IP up on a web service to print it; ``runner report`` names the address."""
    port = free_port()
    log_path = tmp_path / "report.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "scratchlab.runner.cli", "--db", sample_db.url),
                *("report", "--no-browser", "--port", str(port)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            assert wait_for(f"http://127.0.0.1:{port}/_stcore/health", timeout=60) == "ok"
        finally:
            process.terminate()
            process.wait(timeout=30)
    text = log_path.read_text()
    assert f"http://localhost:{port}" in text
    assert "External URL" not in text and "external IP" not in text, text
