"""A category added by a third-party package, with no edit to scratchlab.

``tests/plugins/optimizer_plugin`` is a plugin package as an author would
publish it: it adds the ``solver`` category (an optimizer category; scratchlab's
own ``optimizer`` category is built on the same API), two solvers and an
experiment that uses them. It is installed with pip into a temporary folder
(not imported from the tree) and put on the ``PYTHONPATH`` of real ``runner``
processes; the sweep, ``runner runs --where solver=...`` and the app's
sidebar filter must all work.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "optimizer_plugin"
APP = Path(__file__).resolve().parents[2] / "reports" / "app.py"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The plugin package, pip-installed into a folder of its own (with its entry point)."""
    work = tmp_path_factory.mktemp("optimizer_plugin")
    source = work / "src"
    shutil.copytree(PACKAGE, source)  # building writes into the source folder: keep the tree clean
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


@pytest.fixture(scope="module")
def runner(site: Path, tmp_path_factory):
    """``runner(*args)``: a real ``runner`` process that sees the installed plugin."""
    db = tmp_path_factory.mktemp("db") / "runs.db"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("SCRATCHLAB_DISABLE_PLUGINS", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "scratchlab.runner.cli", "--db", f"sqlite:///{db}", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )

    run.db = db
    return run


@pytest.fixture(scope="module")
def swept(runner):
    """``runner`` after a real sweep of the plugin's category (one supervised worker)."""
    result = runner("sweep", "--plugins", "solver", "--experiments", "fit", "--workers", "1", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    return runner


def test_the_plugin_category_is_listed_with_its_components(runner):
    result = runner("plugins", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert [c["name"] for c in payload["components"]["solver"]] == ["sgd", "momentum"]
    assert [c["name"] for c in payload["components"]["experiment"]][-1] == "fit"
    (info,) = [p for p in payload["plugins"] if p["name"] == "optimizers"]
    assert info["distribution"] == "scratchlab-optimizers" and info["status"] == "ok"


def test_a_sweep_over_the_plugin_category_runs_stores_and_filters(runner, swept):
    planned = runner("sweep", "--plugins", "solver", "--experiments", "fit", "--dry-run", "--json")
    assert planned.returncode == 0, planned.stderr
    assert sorted(r["components"]["solver"] for r in json.loads(planned.stdout)["runs"]) == [
        "momentum",
        "sgd",
    ]
    narrowed = runner(
        "sweep",
        "--experiments",
        "fit",
        "--solver",
        "momentum",
        "-s",
        "solver:momentum.beta=0.5",
        "--dry-run",
        "--json",
    )
    assert narrowed.returncode == 0, narrowed.stderr
    (run,) = json.loads(narrowed.stdout)["runs"]
    assert run["components"] == {"solver": "momentum"} and run["params"]["momentum.beta"] == 0.5

    done = swept("runs", "--where", "solver=momentum", "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)["runs"]
    assert (row["solver"], row["status"], row["experiment"]) == ("momentum", "done", "fit")
    # the plugin's final metric filters and sorts like a built-in one
    converged = swept("runs", "--where", "final_loss<1", "--sort", "final_loss", "--json")
    assert converged.returncode == 0, converged.stderr
    assert {r["solver"] for r in json.loads(converged.stdout)["runs"]} <= {"sgd", "momentum"}


def test_an_unknown_category_option_is_one_line(runner):
    result = runner("sweep", "--experiments", "fit", "--solvers", "sgd", "--dry-run")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: no such option: --solvers; did you mean --solver?")
    )


def test_the_apps_sidebar_filters_by_the_plugin_category(swept, monkeypatch):
    monkeypatch.setenv("SCRATCHLAB_DB", f"sqlite:///{swept.db}")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"solver": "sgd"})
    at.run()
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.multiselect(key="solver").value == ["sgd"]
    (table,) = [d.value for d in at.dataframe if "run_id" in d.value.columns]
    assert list(table["solver"]) == ["sgd"]


def test_a_plugin_experiment_joins_the_main_job_only_when_named(runner):
    """``fit`` uses only the plugin's own category: sweeping matmul,init leaves it out."""
    main_job = runner("sweep", "--plugins", "matmul,init", "--dry-run", "--json")
    assert main_job.returncode == 0, main_job.stderr
    assert "fit" not in {r["experiment"] for r in json.loads(main_job.stdout)["runs"]}
