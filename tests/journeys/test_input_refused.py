"""Input that used to get a traceback or exit 0 (issue 20, parts 3 and 4), through the
real command line with real files: each is refused with one ``Error:`` line, exit 2
(usage) or 1, and no database file appears. A plan is counted before it is built, so
a plan of a million runs is refused at once, with its count and the way to raise the
limit, and a large dry run is a summary."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scratchlab.runner.cli import cli

#: one cheap gradcheck combination
GRADCHECK = ("--experiments", "gradcheck", "--activation", "relu", "--loss", "mse")
#: every category of the built-in plugins, every component of each
EVERYTHING = "matmul,init,activation,loss,dataset,optimizer,schedule,norm"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a test's database would be; the tests assert it never appears."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCRATCHLAB_DB", raising=False)
    monkeypatch.delenv("SCRATCHLAB_WORKER_MEMORY", raising=False)
    return tmp_path / "runs.db"


def invoke(db: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """``runner --db <db> ARGS`` in-process, at 80 columns."""
    return CliRunner().invoke(
        cli,
        ["--db", f"sqlite:///{db}", *args],
        env={"COLUMNS": "80", **(env or {})},
        catch_exceptions=False,
    )


def assert_refused(result: Result, db: Path, *words: str, code: int = 2) -> str:
    """Exit ``code``, one ``Error:`` line holding ``words``, no traceback, no database; the line."""
    assert result.exit_code == code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert "Traceback" not in result.output
    assert not db.exists()
    return errors[0]


# --------------------------------------------------------------------------- part 3


def test_a_db_path_longer_than_the_os_allows_is_one_short_line(db: Path, tmp_path: Path):
    long = tmp_path / ("a" * 5000) / "runs.db"
    for args in (("runs",), ("sweep", *GRADCHECK)):
        result = CliRunner().invoke(cli, ["--db", f"sqlite:///{long}", *args])
        line = assert_refused(result, db, "File name too long", "5", code=1)
        assert len(line) < 200  # the path is shortened, not printed whole


def test_a_bad_worker_memory_setting_is_refused_before_the_database_is_made(db: Path):
    result = invoke(db, "sweep", *GRADCHECK, env={"SCRATCHLAB_WORKER_MEMORY": "lots"})
    assert_refused(result, db, "SCRATCHLAB_WORKER_MEMORY='lots'", "512M")


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        pytest.param("train.epochs=999999999999", ("integer in [1, 10000]",), id="epochs-huge"),
        pytest.param("train.epochs=２", ("expected an integer",), id="fullwidth-digit"),
        pytest.param("train.lr=٠٫٥", ("expected a number",), id="arabic-indic-digits"),
        pytest.param("train.hidden=1" + "0" * 30, ("expected an integer",), id="past-64-bits"),
        pytest.param("init-stats.models=unknown", ("mlp, deep, conv",), id="unknown-model"),
    ],
)
def test_a_param_value_is_refused_when_the_plan_is_made(db: Path, setting: str, words):
    experiment = setting.partition(".")[0]
    # not a dry run: a plan let through would store a sweep and run it
    result = invoke(db, "sweep", "--experiments", experiment, "-s", setting, "--inline")
    assert_refused(result, db, setting.partition("=")[0], *words)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(b"\x00\x01binary\xff\xfe\x00", ("not UTF-8 text", "0xff"), id="binary"),
        pytest.param(
            'experiments = ["gradcheck"]\n'.encode("utf-16"), ("UTF-16", "UTF-8"), id="utf-16"
        ),
        pytest.param(
            b"x = " + b"[" * 50_000 + b"]" * 50_000, ("nested too deeply",), id="deep-nesting"
        ),
        pytest.param(b"experiments = 5\n", ("experiments must be names", "int 5"), id="int"),
        pytest.param(b"devices = {a = 1}\n", ("devices must be names",), id="table"),
    ],
)
def test_a_config_file_that_is_not_a_sweep_config_is_one_line(
    db: Path, tmp_path: Path, content: bytes, words
):
    config = tmp_path / "sweep.toml"
    config.write_bytes(content)
    assert_refused(invoke(db, "sweep", "--config", str(config)), db, "--config", *words)


@pytest.mark.parametrize("threads", ["1,,2", ",", "1,", "２"])
def test_thread_counts_with_empty_or_foreign_items_are_refused(db: Path, threads: str):
    assert_refused(invoke(db, "sweep", *GRADCHECK, "--threads", threads), db, "--threads")


def test_a_category_option_no_named_experiment_uses_is_refused(db: Path):
    result = invoke(db, "sweep", "--experiments", "matmul", "--init", "xavier")
    line = assert_refused(result, db, "--init", "(matmul)", "init-stats")
    assert "gradcheck" in line  # what would use it
    result = invoke(db, "sweep", "--experiments", "matmul", "--plugins", "matmul,loss")
    assert_refused(result, db, "--plugins loss")


def test_report_refuses_an_address_it_cannot_listen_on(db: Path):
    assert invoke(db, "db", "upgrade").exit_code == 0
    before = db.read_bytes()
    # 203.0.113.5 is TEST-NET-3: never an address of this machine
    for address, words in (
        ("203.0.113.5", ("cannot listen on 203.0.113.5",)),
        ("no-such-host.invalid", ("--address no-such-host.invalid",)),
    ):
        result = invoke(db, "report", "--no-browser", "--address", address, "--port", "8765")
        assert result.exit_code == 1, result.output
        assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
            next(line for line in result.stderr.splitlines() if all(w in line for w in words))
        ]
    with socket.socket() as busy:  # a port another server holds
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = invoke(db, "report", "--no-browser", "--address", "127.0.0.1", "--port", port)
    assert result.exit_code == 1, result.output
    assert f"cannot listen on 127.0.0.1 port {port}" in result.stderr
    assert db.read_bytes() == before


# --------------------------------------------------------------------------- part 4


def test_a_plan_of_every_component_is_refused_with_its_count(db: Path):
    result = invoke(db, "sweep", "--plugins", EVERYTHING, "--dry-run")
    line = assert_refused(result, db, "1,037,141 runs", "limit of 10,000", "--max-runs 1037141")
    assert "train 864,000" in line


def test_a_huge_repeat_is_counted_not_built(db: Path):
    result = invoke(db, "sweep", "--plugins", "matmul", "--repeat", "10000", "--dry-run")
    assert_refused(result, db, "100,000 runs", "--max-runs 100000")
    # a config file raising the limit is read too, and held to the same bound
    config = db.parent / "sweep.toml"
    config.write_text('plugins = ["matmul"]\nrepeat = 10000\nmax-runs = 100000000\n')
    assert_refused(invoke(db, "sweep", "--config", str(config), "--dry-run"), db, "max-runs")


def test_a_large_dry_run_is_a_summary_and_json_lists_every_run(db: Path):
    args = ("sweep", "--experiments", "gradcheck", "--repeat", "10000", "--dry-run")
    result = invoke(db, *args)
    assert result.exit_code == 0, result.output
    assert "10,000 runs, summarised" in result.stdout
    assert "repeat 10000" in result.stdout
    assert len(result.stdout.splitlines()) < 20
    payload = json.loads(invoke(db, *args, "--json").stdout)
    assert payload["count"] == 10_000 == len(payload["runs"])
    assert not db.exists()


def test_max_runs_raises_the_limit_and_lowers_it(db: Path):
    args = ("sweep", "--plugins", "activation", "--experiments", "gradcheck", "--dry-run")
    assert invoke(db, *args, "--max-runs", "5").exit_code == 2
    result = invoke(db, *args, "--max-runs", "6", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["count"] == 6
