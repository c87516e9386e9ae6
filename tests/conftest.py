"""Fixtures shared by the whole suite.

The fixtures live in ``tests/fixtures/`` by what they build (a results
database, sample sweeps, runs of the built-in experiments, plugin packages),
registered here for every test, so a test file can sit beside the code module
it covers (``tests/<package>/test_<module>.py``) whatever it needs.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# `fixtures` is imported as a package from this folder (the suite runs with
# --import-mode=importlib, which puts no test folder on sys.path)
sys.path.insert(0, str(Path(__file__).resolve().parent))

# pytest-xdist's workers inherit COLUMNS=80 where a plain run has none; the CLI
# sizes its tables by COLUMNS, so the same test would see another table
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

pytest_plugins = [
    "fixtures.analysis",
    "fixtures.authoring",
    "fixtures.browser",
    "fixtures.database",
    "fixtures.datasets",
    "fixtures.experiments",
    "fixtures.frames",
    "fixtures.lessons",
    "fixtures.main_job",
    "fixtures.probe",
    "fixtures.reports",
    "fixtures.results",
    "fixtures.sweeps",
]


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write plugin modules (and optionally a fake installed distribution) on ``sys.path``.

    ``plugin_path(modules={"mod": "source"}, dist=("name", "1.0"), entry_points={"ep": "mod"})``
    writes ``mod.py`` into a fresh folder on ``sys.path``; with ``dist`` it also writes a
    ``name-1.0.dist-info`` folder whose ``entry_points.txt`` declares ``entry_points`` in the
    ``scratchlab`` group: a real distribution, found by ``importlib.metadata``, installed
    without pip. Modules are removed from ``sys.modules`` afterwards.
    """
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    written: list[str] = []

    def write(
        modules: dict[str, str],
        dist: tuple[str, str] | None = None,
        entry_points: dict[str, str] | None = None,
    ) -> Path:
        for name, source in modules.items():
            (root / f"{name}.py").write_text(textwrap.dedent(source))
            written.append(name)
        if dist is not None:
            name, version = dist
            info = root / f"{name.replace('-', '_')}-{version}.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            )
            lines = ["[scratchlab]"] + [
                f"{ep} = {target}" for ep, target in (entry_points or {}).items()
            ]
            (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        importlib.invalidate_caches()
        return root

    yield write
    for name in written:
        sys.modules.pop(name, None)


@pytest.fixture
def clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run with neither the strict nor the disable switch set by the caller's shell."""
    monkeypatch.delenv("SCRATCHLAB_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("SCRATCHLAB_DISABLE_PLUGINS", raising=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every end-to-end journey (``tests/journeys/``: real sweeps, browsers, notebooks,
    fresh virtualenvs) is ``slow``, so ``-m "not slow"`` is the quick subset."""
    journeys = Path(__file__).resolve().parent / "journeys"
    for item in items:
        if journeys in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.slow)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one test worker more than the cores this process may use. A worker spends
    part of its time waiting for the processes its tests start (sweeps, browsers, clusters), so
    with one per core the cores were idle 17% of a full run (two cores: 83% busy, 199 s); with
    one more, 5% (95% busy, 180 s). See docs/performance.md."""
    from scratchlab.runner.environment import usable_cpus

    return usable_cpus() + 1
