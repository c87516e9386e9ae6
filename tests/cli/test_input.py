"""Hostile numbers on the command line and through the Python API: one line, exit 2, nothing written.

Each case reproduces a class of bad input from the hardening issue (#14,
items 6 and 7): ids past the database's integer range, huge ``--repeat``,
seeds out of numpy's and torch's range, timeouts that are nan, inf, 0 or
negative, the same limits set by a config file or the notebook API, and
params that planning refuses. Every case must exit 2 with one ``Error:``
line, no traceback, and no database file written.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scratchlab.runner.cli import cli

HUGE = "99999999999999999999999"


def invoke(db: Path, *args: str) -> Result:
    """``runner --db <db> ARGS`` in-process."""
    return CliRunner().invoke(cli, ["--db", f"sqlite:///{db}", *args], catch_exceptions=False)


def assert_refused(result: Result, db: Path, *words: str) -> None:
    """Exit 2, one ``Error:`` line naming ``words``, no traceback, no database file."""
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert "Traceback" not in result.output
    assert not db.exists()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a test's database would be; the tests assert it never appears."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCRATCHLAB_DB", raising=False)
    return tmp_path / "runs.db"


# --------------------------------------------------------------------------- ids and row counts

ID_CASES = [
    pytest.param(["show", HUGE], "1..9223372036854775807", id="show-id"),
    pytest.param(["show", "0"], "1..9223372036854775807", id="show-id-zero"),
    pytest.param(["runs", "--sweep", HUGE], "1..9223372036854775807", id="runs-sweep"),
    pytest.param(["runs", "--limit", HUGE], "0..2147483647", id="runs-limit"),
    pytest.param(["runs", "--offset", HUGE], "0..2147483647", id="runs-offset"),
    pytest.param(["runs", "--limit", "-1"], "0..2147483647", id="runs-limit-negative"),
    pytest.param(
        ["compare", "--sweep", "1", "--against", HUGE],
        "1..9223372036854775807",
        id="compare-against",
    ),
    pytest.param(["sweep", "--resume", HUGE], "1..9223372036854775807", id="sweep-resume"),
    pytest.param(
        ["sweep", "--rerun-failed", HUGE], "1..9223372036854775807", id="sweep-rerun-failed"
    ),
]


@pytest.mark.parametrize(("args", "bound"), ID_CASES)
def test_ids_and_counts_past_their_range_are_one_line(db: Path, args: list[str], bound: str):
    assert_refused(invoke(db, *args), db, bound)


def test_the_largest_id_is_a_clean_not_found(db: Path):
    assert invoke(db, "sweep", "--experiments", "gradcheck", "--dry-run").exit_code == 0
    # a store is needed for "not found": create an empty one with `runner db upgrade`
    assert invoke(db, "db", "upgrade").exit_code == 0
    result = invoke(db, "show", str(2**63 - 1))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert str(2**63 - 1) in result.stderr


# --------------------------------------------------------------------------- sweep numbers

SWEEP_CASES = [
    pytest.param(["--seed", HUGE], "0..4294967295", id="seed-huge"),
    pytest.param(["--seed", "-1"], "0..4294967295", id="seed-negative"),
    pytest.param(["--seed", "4294967295", "--repeat", "2"], "largest seed", id="seed-plus-repeat"),
    pytest.param(["--repeat", "0"], "1..10000", id="repeat-zero"),
    pytest.param(["--repeat", "abc"], "1..10000", id="repeat-garbage"),
    pytest.param(["--workers", "0"], "1..1024", id="workers-zero"),
    pytest.param(["--workers", HUGE], "1..1024", id="workers-huge"),
    *(
        pytest.param(["--timeout", value], "not a usable timeout", id=f"timeout-{value}")
        for value in ("nan", "inf", "-inf", "0", "-1", "1e300", "soon")
    ),
]


@pytest.mark.parametrize(("args", "words"), SWEEP_CASES)
def test_sweep_numbers_out_of_range_exit_2_before_a_sweep_row_exists(
    db: Path, args: list[str], words: str
):
    assert_refused(invoke(db, "sweep", "--experiments", "gradcheck", *args), db, words)


def test_a_huge_repeat_with_dry_run_ends_at_once(db: Path):
    started = time.monotonic()
    result = invoke(db, "sweep", "--plugins", "matmul", "--repeat", HUGE, "--dry-run")
    # the bound is checked before anything is planned: no list of 10^23 runs is built
    assert time.monotonic() - started < 30
    assert_refused(result, db, "1..10000")


def test_a_config_file_is_held_to_the_same_limits(db: Path, tmp_path: Path):
    config = tmp_path / "sweep.toml"
    config.write_text(f'experiments = ["gradcheck"]\nrepeat = {HUGE}\n')
    assert_refused(
        invoke(db, "sweep", "--config", str(config), "--dry-run"), db, "repeat", "1..10000"
    )
    config.write_text('experiments = ["gradcheck"]\nseed = -3\n')
    assert_refused(invoke(db, "sweep", "--config", str(config)), db, "seed", "0..4294967295")


# --------------------------------------------------------------------------- params refused by planning


@pytest.mark.parametrize(
    ("setting", "allowed"),
    [
        pytest.param("train.epochs=lots", "expected an integer", id="garbage-int"),
        pytest.param("train.lr=fast", "expected a number", id="garbage-float"),
        pytest.param("train.lr=nan", "finite number > 0", id="nan-lr"),
        pytest.param("train.lr=inf", "finite number > 0", id="inf-lr"),
        pytest.param("train.lr=-0.1", "finite number > 0", id="negative-lr"),
        pytest.param("train.epochs=-1", "integer in [1, 10000]", id="negative-epochs"),
        pytest.param("train.bs=0", "integer in [1, 1048576]", id="zero-bs"),
        pytest.param("train.hidden=-3", "integer in [1, 65536]", id="negative-hidden"),
    ],
)
def test_a_param_planning_refuses_writes_no_sweep(db: Path, setting: str, allowed: str):
    # one train run (a cheap one if planning let it through): the point is that none is stored
    args = (
        "--experiments",
        "train",
        "--matmul",
        "torch",
        "--init",
        "kaiming-normal",
        "--activation",
        "relu",
    )
    assert_refused(invoke(db, "sweep", *args, "-s", setting), db, setting.split("=")[0], allowed)


@pytest.mark.parametrize(
    "setting",
    [
        pytest.param("matmul.shapes=-5x3x2", id="negative-shape"),
        pytest.param("matmul.shapes=0x3x2", id="zero-shape"),
        pytest.param("matmul.shapes=banana", id="garbage-shape"),
        pytest.param("matmul.min_run_time=0", id="zero-min-run-time"),
    ],
)
def test_matmul_params_are_refused_at_planning(db: Path, setting: str):
    args = ("--experiments", "matmul", "--matmul", "torch")
    assert_refused(
        invoke(db, "sweep", *args, "-s", setting), db, setting.split("=")[0], "is not allowed"
    )


# --------------------------------------------------------------------------- the Python API


def test_the_api_refuses_the_same_numbers_before_writing(db: Path):
    from scratchlab.runner.spec import SweepSpec
    from scratchlab.runner.sweeping import Execution, SweepUsageError, run_sweep

    for bad in (float("nan"), float("inf"), 0.0, -1.0):
        with pytest.raises(SweepUsageError, match="not a usable timeout"):
            Execution(timeout=bad)
    with pytest.raises(SweepUsageError, match=r"1\.\.1024"):
        Execution(workers=10**23)
    with pytest.raises(SweepUsageError, match="repeat"):
        run_sweep(SweepSpec(experiments=("gradcheck",), repeat=10**23), db=str(db))
    with pytest.raises(SweepUsageError, match="seed"):
        run_sweep(SweepSpec(experiments=("gradcheck",), seed=2**40), db=str(db))
    assert not db.exists()
