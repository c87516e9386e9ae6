"""Fixtures of the database tests: real SQLite files, a real PostgreSQL server, sample records.

The PostgreSQL server is started once per session from the binaries on the
machine (``initdb`` into a temporary folder, then ``postgres`` on a free
loopback port; as the ``postgres`` user when the tests run as root, since
PostgreSQL refuses to run as root). Each test gets a database of its own.
Tests parametrised over ``db_url`` run on both backends; the PostgreSQL case
is skipped, saying why, only where no server binaries exist.
"""

from __future__ import annotations

import glob
import math
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from scratchlab.db.records import MetricRecord, PlannedRun, RunResult, StatRecord, TimingRecord

PG_USER = "postgres"


def _pg_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``: $SCRATCHLAB_PG_BIN, PATH, /usr/local/bin, Debian's."""
    candidates = [os.environ.get("SCRATCHLAB_PG_BIN")]
    found = shutil.which("initdb")
    candidates.append(str(Path(found).parent) if found else None)
    candidates.append("/usr/local/bin")
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in filter(None, candidates):
        folder = Path(candidate)
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as_postgres() -> dict:
    """Popen arguments that drop root to the postgres user (created if missing)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", PG_USER], check=True, capture_output=True
        )
        entry = pwd.getpwnam(PG_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL server on the loopback interface."""

    host: str
    port: int

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for one of its databases."""
        return f"postgresql+psycopg://{PG_USER}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=PG_USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start PostgreSQL from the machine's binaries for the session; skip if there are none."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, postgres) on this machine")
    pytest.importorskip("psycopg", reason="psycopg (the 'postgres' extra) is not installed")
    import psycopg

    as_postgres = _run_as_postgres()
    root = Path(tempfile.mkdtemp(prefix="scratchlab-pg-"))
    if as_postgres:
        os.chown(root, as_postgres["user"], as_postgres["group"])
    data, log = root / "data", root / "server.log"
    subprocess.run(
        [
            bindir / "initdb",
            "-D",
            data,
            "-U",
            PG_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        **as_postgres,
    )
    port = _free_port()
    with open(log, "wb") as log_file:
        server = subprocess.Popen(
            [
                bindir / "postgres",
                "-D",
                data,
                "-p",
                str(port),
                "-k",
                root,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            **as_postgres,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(
                    host="127.0.0.1", port=port, user=PG_USER, dbname="postgres"
                ).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not start:\n{log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.1)
        yield PostgresServer("127.0.0.1", port)
    finally:
        server.send_signal(signal.SIGINT)  # "fast" shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres_server.admin(f"CREATE DATABASE {name}")
    yield postgres_server.url(name)
    postgres_server.admin(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return request.getfixturevalue("postgres_url")


# -- sample records -------------------------------------------------------------

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def planned_run(
    key: str = "k0", *, experiment: str = "train", matmul: str = "torch", lr: float = 0.5, **params
) -> PlannedRun:
    """A planned run with components, versions and params of every stored type."""
    return PlannedRun(
        key=key,
        experiment=experiment,
        components={"matmul": matmul, "activation": "leaky-relu"},
        params={
            "lr": lr,
            "bs": 64,
            "leaky-relu.slope": 0.01,
            "shapes": ["5x784x10", "64x784x50"],
            "bias": True,
            "note": None,
            "name": "plain text",
            **params,
        },
        device="cpu",
        dtype="float64",
        seed=7,
        repeat=1,
        component_versions={"matmul": "0.1.0+1a2b3c", "activation": "0.1.0+4d5e6f"},
    )


def full_result(status: str = "done", *, scale: float = 1.0) -> RunResult:
    """A result with every kind of record, NaN and both infinities in every float column."""
    return RunResult(
        status=status,
        reason="Traceback ...\nValueError: boom" if status == "failed" else None,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2.5),
        timings=[
            TimingRecord(
                label="forward",
                replicates=[1e-3 * scale, math.nan, math.inf, -math.inf, 2e-3],
                median=1.5e-3 * scale,
                iqr=math.nan,
                mean=math.inf,
                min=-math.inf,
                max=2e-3,
                number_per_run=10,
                shape="5x784x10",
                flops=math.nan,
                threads=4,
            ),
            TimingRecord(
                label="backward",
                replicates=[3e-3, 4e-3],
                median=3.5e-3,
                iqr=1e-3,
                mean=3.5e-3,
                min=3e-3,
                max=4e-3,
                shape=None,
                flops=None,
                threads=None,
            ),
        ],
        stats=[
            StatRecord(
                "mlp",
                0,
                "linear0",
                mean=0.1 * scale,
                std=1.0,
                min=-2.0,
                max=2.0,
                frac_zero=0.0,
                frac_nonfinite=0.0,
                step=None,
            ),
            StatRecord(
                "deep",
                0,
                "linear0",
                mean=math.nan,
                std=math.inf,
                min=-math.inf,
                max=math.inf,
                frac_zero=math.nan,
                frac_nonfinite=1.0,
                step=3,
            ),
        ],
        metrics=[
            MetricRecord("train_loss", 2.3 * scale, 0),
            MetricRecord("train_loss", math.nan, 1),
            MetricRecord("train_loss", math.inf, 2),
            MetricRecord("valid_acc", -math.inf, None),
        ],
    )


@pytest.fixture
def samples() -> SimpleNamespace:
    """The sample-record builders: ``planned_run(key, ...)``, ``full_result(status, scale=...)``, ``T0``."""
    return SimpleNamespace(planned_run=planned_run, full_result=full_result, T0=T0)


def build_database_at(url: str, revision: str) -> None:
    """Create a database at an earlier schema revision, as an older scratchlab left it."""
    from alembic import command

    from scratchlab.db.engine import make_engine, transaction
    from scratchlab.db.schema import alembic_config

    engine = make_engine(url)
    try:
        with transaction(engine, write=True) as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


@pytest.fixture
def database_at():
    """``database_at(url, revision)``: build a database at an earlier schema revision."""
    return build_database_at
