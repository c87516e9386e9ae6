"""``runner plugins new NAME``: a plugin package that installs, sweeps and passes its own test."""

from __future__ import annotations

import tomllib

import pytest
from click.testing import CliRunner

from scratchlab.runner.cli import cli

FILES = [
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "scratchlab_my_matmuls/__init__.py",
    "tests/test_scratchlab_my_matmuls.py",
]


def new(*args: str):
    return CliRunner().invoke(cli, ["plugins", "new", *args])


def test_scaffold_writes_a_package_with_its_entry_point(tmp_path):
    result = new("my-matmuls", "-d", str(tmp_path), "--description", 'Fast "row" matmuls \\ more')
    assert result.exit_code == 0, result.output
    folder = tmp_path / "my-matmuls"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == FILES
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    assert project["name"] == "scratchlab-my-matmuls"
    assert project["description"] == 'Fast "row" matmuls \\ more'
    assert project["entry-points"]["scratchlab"] == {"my-matmuls": "scratchlab_my_matmuls"}
    for path in FILES[-2:]:
        compile((folder / path).read_text(), path, "exec")  # valid Python, quotes and all
    assert f"pip install -e '{folder}[test]'" in result.stdout  # pytest comes with the test extra
    assert "pip install -e '.[test]'" in (folder / "README.md").read_text()


def test_existing_folder_and_bad_names_are_one_line_errors(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = new("taken", "-d", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'taken'} already exists and is not an empty folder; choose another name or remove it"
    ]
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    for bad in ("My_Plugin", "9lives", "a--b", "scratchlab-"):
        result = new(bad, "-d", str(tmp_path))
        assert result.exit_code == 2, (bad, result.output)
        assert "lower-case letters, digits and single hyphens" in result.stderr
        assert "Traceback" not in result.output
    assert new("two\nlines", "-d", str(tmp_path)).exit_code == 2
    assert new("fine", "-d", str(tmp_path), "--description", "two\nlines").exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


# pip and four to six runner subprocesses, each importing torch: minutes on a busy machine
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_guide_flow_new_install_sweep_and_its_own_test(tmp_path, plugin_env):
    """The exact steps docs/plugins.md gives, in a fresh environment."""
    done = plugin_env.run("plugins", "new", "demo", cwd=tmp_path)
    assert "pip install -e './demo[test]'" in done.stdout
    assert (
        "runner sweep --experiments matmul --matmul demo,torch \\\n      -s matmul.shapes=64x784x50"
        in done.stdout
    )
    # as the hint says, with the test extra (--no-deps: offline; its deps are already here)
    plugin_env.pip(
        "install", "--no-build-isolation", "--no-deps", "-e", f"{tmp_path / 'demo'}[test]"
    )

    listed = plugin_env.run_json("plugins")
    (entry,) = [c for c in listed["components"]["matmul"] if c["name"] == "demo"]
    assert (entry["plugin"], entry["distribution"]) == ("demo", "scratchlab-demo")

    db = f"sqlite:///{tmp_path / 'runs.db'}"
    plugin_env.run(
        "--db",
        db,
        "sweep",
        "--experiments",
        "matmul",
        "--matmul",
        "demo,torch",
        "-s",
        "matmul.shapes=64x784x50",
        "-q",
        cwd=tmp_path,
    )
    runs = plugin_env.run_json("--db", db, "runs")["runs"]
    assert sorted((r["matmul"], r["status"]) for r in runs) == [("demo", "done"), ("torch", "done")]

    tests = plugin_env.python_run(
        "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tmp_path / "demo"
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout


def test_a_name_a_built_in_matmul_has_is_refused(tmp_path):
    result = new("torch", "-d", str(tmp_path))
    assert result.exit_code == 2
    assert "'torch' is already a matmul (from plugin 'scratchlab.plugins.matmul')" in result.stderr
    assert "pick another name" in result.stderr and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_a_scratchlab_prefix_is_not_doubled(tmp_path):
    result = new("scratchlab-extra", "-d", str(tmp_path))
    assert result.exit_code == 0, result.output
    project = tomllib.loads((tmp_path / "scratchlab-extra" / "pyproject.toml").read_text())[
        "project"
    ]
    assert project["name"] == "scratchlab-extra"
    assert project["entry-points"]["scratchlab"] == {"extra": "scratchlab_extra"}
    assert (
        'name="extra"'
        in (tmp_path / "scratchlab-extra" / "scratchlab_extra" / "__init__.py").read_text()
    )
