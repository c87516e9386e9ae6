"""What ``runner sweep --dry-run`` prints (``runner/cli/sweep_listing.py``): the plan as
tables or JSON with only the params that differ, a stored sweep's plan, a search's space."""

from __future__ import annotations

import json
from pathlib import Path


def test_dry_run_prints_the_plan_and_count_and_writes_nothing(sweep, db_file: Path):
    result = sweep(
        "--matmul", "toy-a,toy-b,toy-c", "--experiments", "echo", "-s", "echo.n=5", "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert "3 runs of 1 experiment" in result.stdout
    for name in ("toy-a", "toy-b", "toy-c", "n=5"):
        assert name in result.stdout
    assert not db_file.exists()
    assert not list(db_file.parent.glob("*.db*"))


def test_dry_run_json_lists_each_run_with_the_params_that_differ(dry_plan):
    plan = dry_plan(
        "--matmul",
        "toy-a,toy-b",
        "--experiments",
        "echo,noop",
        "-s",
        "toy-b.bias=0.5",
        "--repeat",
        "2",
        "--seed",
        "10",
    )
    assert plan["count"] == 6  # echo: 2 matmuls x 2 repeats; noop: 2 repeats (it uses no category)
    rows = [(r["experiment"], r["components"], r["params"], r["seed"]) for r in plan["runs"]]
    assert rows[:4] == [
        ("echo", {"matmul": "toy-a"}, {}, 10),
        ("echo", {"matmul": "toy-a"}, {}, 11),
        ("echo", {"matmul": "toy-b"}, {"toy-b.bias": 0.5}, 10),
        ("echo", {"matmul": "toy-b"}, {"toy-b.bias": 0.5}, 11),
    ]
    assert [r["experiment"] for r in plan["runs"][4:]] == ["noop", "noop"]


def test_a_search_dry_run_names_its_space_and_writes_nothing(sweep, db_file: Path):
    args = ("--experiments", "echo", "--matmul", "toy-a,toy-b", "-s", "echo.n=2..6")
    search = ("--search", "random", "--trials", "3", "--objective", "sum", "--dry-run")
    result = sweep(*args, *search)
    assert result.exit_code == 0, result.output
    assert "3 trials of echo" in result.stdout and "nothing is run or written" in result.stdout
    shown = json.loads(sweep(*args, *search, "--json").stdout)
    assert shown["search"]["trials"] == 3 and shown["search"]["objective"] == "sum"
    assert "matmul in {toy-a, toy-b}" in shown["space"] and "echo.n in 2..6" in shown["space"]
    assert not db_file.exists()


def test_a_stored_sweeps_dry_run_lists_what_it_would_run_again(sweep, results):
    first = sweep("--matmul", "toy-a", "--experiments", "boom,noop", "--inline", "-q")
    assert first.exit_code == 1, first.output
    result = sweep("--rerun-failed", "1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "(dry run)" in result.stdout and "nothing is run or written" not in result.stdout
    assert "1 run of 1 experiment" in result.stdout and "boom" in result.stdout
    assert results.query("SELECT count(*) FROM sweeps") == [(1,)]
