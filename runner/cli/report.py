"""``runner report``: start the Streamlit app on the results database.

It does not import torch; the database is checked (opened read-only) before Streamlit starts.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import click

from scratchlab.runner.cli.common import read_store


def app_path() -> Path:
    """The Streamlit entry point ``runner report`` starts (``reports/server.py``: the app
    with its first imports done while the browser loads the page)."""
    import scratchlab.reports

    return Path(scratchlab.reports.__file__).resolve().parent / "server.py"


def streamlit_command(
    db_url: str, *, port: int | None, headless: bool, address: str | None
) -> list[str]:
    """The ``streamlit run`` command line that serves the app on ``db_url``."""
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path()),
        "--server.headless",
        "true" if headless else "false",
        # the app needs no network: no usage statistics
        "--browser.gatherUsageStats",
        "false",
    ]
    if port is not None:
        command += ["--server.port", str(port)]
    if address:
        command += ["--server.address", address]
    # the address to browse is given, not looked up: headless, Streamlit otherwise asks a web
    # service for the machine's external IP (a request leaving the machine, and up to 2 s)
    shown = address if address and address not in ("0.0.0.0", "::") else "localhost"
    command += ["--browser.serverAddress", shown]
    return [*command, "--", "--db", db_url]


#: Streamlit's port when none is given
STREAMLIT_PORT = 8501


def listen_problem(address: str, port: int | None) -> str | None:
    """Why the app could not listen on ``address`` (and ``port``, when given), or None.

    Tried with a socket bound and closed at once: Streamlit's own failure is a
    traceback printed after its start-up. Without a port only the address is
    tried, since Streamlit then moves on from a busy default port by itself.
    """
    import socket

    try:
        infos = socket.getaddrinfo(address, port or 0, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        return f"--address {address}: not an address of this machine ({exc})"
    family, kind, proto, _name, where = infos[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(where)
    except OSError as exc:
        port_text = f" port {port}" if port else ""
        return f"cannot listen on {address}{port_text}: {exc.strerror or exc}"
    return None


@click.command(name="report")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Port to serve on (default: Streamlit's, 8501)."
)
@click.option("--address", help="Address to listen on (default: Streamlit's).")
@click.option(
    "--no-browser", "headless", is_flag=True, help="Do not open a browser (headless server)."
)
@click.pass_obj
def report_serve(state, port: int | None, address: str | None, headless: bool) -> None:
    """Open the Streamlit report app on the database (read-only); Ctrl-C stops it.

    \b
    Examples:
      runner report
      runner --db sqlite:///results/runs.db report --port 8600 --no-browser
    """
    # a missing or foreign database is reported here, not in the browser
    read_store(state).close()
    if address and (problem := listen_problem(address, port)) is not None:
        raise click.ClickException(problem)
    command = streamlit_command(state.db_url, port=port, headless=headless, address=address)
    returncode = run_until_stopped(command)
    # stopped by Ctrl-C or a terminate signal: a normal end for a server
    if returncode not in (
        0,
        -signal.SIGINT,
        -signal.SIGTERM,
        128 + signal.SIGINT,
        128 + signal.SIGTERM,
    ):
        raise click.ClickException(f"streamlit exited with status {returncode}")


def run_until_stopped(command: list[str], grace_s: float = 10.0) -> int:
    """Run ``command`` until it exits; a SIGTERM sent to this process is passed on
    to it, and Ctrl-C stops it, so no server is left behind. Its exit status."""
    process = subprocess.Popen(command)

    def forward(signum, _frame) -> None:
        process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        return process.wait()
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the server too; make sure it is gone
        process.terminate()
        try:
            return process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
