"""docs/plugins.md: every hook and published name documented, every example runs, no link leaves the repository.

After datasette's ``tests/test_docs.py``: the guide cannot fall behind the
hookspecs, and its examples are run through the real engine
(``scratchlab.testing``) exactly as an author would copy them.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
from pathlib import Path

import pytest

import scratchlab.plugins
from scratchlab.plugins import hookspecs
from scratchlab.testing import PluginTestError, run_components

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "plugins.md"
TEXT = GUIDE.read_text()
EXAMPLE = re.compile(r"```python\n# docs example: (?P<name>[a-z]+)\n(?P<code>.*?)```", re.DOTALL)
EXAMPLES = {m["name"]: m["code"] for m in EXAMPLE.finditer(TEXT)}
HOOKS = sorted(
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, "scratchlab_spec")
)


def test_the_hookspecs_are_found():
    assert {"register_matmuls", "register_experiments", "run_finished"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_and_a_table_row(hook):
    assert f"### `{hook}`" in TEXT
    assert re.search(rf"^\| `{hook}\(", TEXT, re.MULTILINE), (
        f"{hook} is missing from the hooks table"
    )


def test_every_category_the_built_ins_define_is_documented_with_its_hook():
    from scratchlab.plugins.manager import load_plugins

    for category in load_plugins().registry.categories():
        assert f"`{category.name}`" in TEXT and f"`{category.hook}" in TEXT, category.name


@pytest.mark.parametrize("name", sorted(scratchlab.plugins.__all__))
def test_every_published_name_is_documented(name):
    assert re.search(rf"`{re.escape(name)}[`(]", TEXT), (
        f"scratchlab.plugins.{name} is not in docs/plugins.md"
    )


def test_the_table_of_contents_points_at_headings():
    anchors = set(re.findall(r"\]\(#([a-z0-9-]+)\)", TEXT))
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in TEXT.splitlines()
        if line.startswith("#")
    }
    assert anchors and anchors <= headings, anchors - headings


@pytest.mark.parametrize("doc", sorted((REPO / "docs").glob("*.md")), ids=lambda p: p.name)
def test_docs_point_only_inside_the_repository(doc):
    text = doc.read_text()
    assert "../shared" not in text and "/work/" not in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+://", target):
            continue  # a web address is not a file of the repository
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(REPO) and resolved.exists(), f"{doc.name}: {target}"
    for path in re.findall(r"`((?:plugins|tests|runner|db|reports|api|docs)/[\w./-]+)`", text):
        if "NAME" not in path:  # a placeholder, as in the files `runner plugins new NAME` writes
            assert (REPO / path).exists(), (
                f"{doc.name} names {path}, which is not in the repository"
            )


@pytest.fixture
def example(tmp_path, monkeypatch):
    """Write a guide example to a module file, as an author would, and import it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = []

    def load(name):
        module_name = f"docs_example_{name}"
        (tmp_path / f"{module_name}.py").write_text(EXAMPLES[name])
        importlib.invalidate_caches()
        loaded.append(module_name)
        return importlib.import_module(module_name)

    yield load
    for name in loaded:
        sys.modules.pop(name, None)


def test_every_category_has_an_example():
    assert set(EXAMPLES) == {
        "matmul",
        "init",
        "activation",
        "loss",
        "dataset",
        "experiment",
        "category",
        "observer",
    }


def test_matmul_example(example):
    results = run_components(
        example("matmul"),
        experiment="matmul",
        matmul="blocked",
        settings={"matmul.shapes": "8x16x40", "matmul.min_run_time": 0.01, "blocked.block": 8},
    )
    results.raise_for_failures()
    assert results.metric("8x16x40.correct") == 1.0
    with pytest.raises(
        PluginTestError, match="block"
    ):  # its bounds: a usage error before anything runs
        run_components(
            sys.modules["docs_example_matmul"],
            experiment="matmul",
            matmul="blocked",
            settings={"blocked.block": 0},
        )


def test_init_example(example):
    results = run_components(
        example("init"),
        experiment="init-stats",
        init="kaiming-truncated",
        settings={"init-stats.models": "mlp"},
    )
    results.raise_for_failures()
    assert not results.stats.empty and results.runs["kaiming-truncated.mode"].tolist() == ["fan_in"]


@pytest.mark.parametrize(
    ("name", "category", "component"),
    [
        ("activation", "activation", "softplus"),
        ("loss", "loss", "log-softmax-nll"),
    ],
)
def test_hand_written_gradients_pass_gradcheck(example, name, category, component):
    results = run_components(
        example(name),
        experiment="gradcheck",
        settings={"gradcheck.batch": 64},
        **{category: component},
    )
    results.raise_for_failures()
    assert results.metric("passed") == 1.0


def test_dataset_example_trains(example):
    results = run_components(
        example("dataset"), experiment="train", dataset="blobs", settings={"blobs.n": 256}
    )
    results.raise_for_failures()
    assert results.metric("valid_accuracy") > 0.9


def test_experiment_example(example):
    results = run_components(
        example("experiment"),
        experiment="square",
        matmul=["torch", "einsum"],
        settings={"square.size": 16},
    )
    results.raise_for_failures()
    assert len(results.timings) == 2 and (results.final_metrics["value"] < 1e-3).all()


def test_category_example_adds_a_category_with_no_core_edit(example):
    results = run_components(
        example("category"),
        experiment="fit-line",
        regularizer=["none", "l2"],
        settings={"l2.weight": 1.0},
    )
    results.raise_for_failures()
    slopes = dict(
        zip(
            results.runs["regularizer"],
            results.final_metrics.query("name == 'slope'")["value"],
            strict=True,
        )
    )
    assert slopes["none"] > slopes["l2"] > 0  # the penalty pulls the slope towards 0


def test_observer_example(example, tmp_path, monkeypatch):
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv("SCRATCHLAB_RUN_LOG", str(log))
    results = run_components(
        example("observer"),
        experiment="matmul",
        matmul="torch",
        settings={"matmul.shapes": "4x4x4", "matmul.min_run_time": 0.01},
    )
    run, sweep = [json.loads(line) for line in log.read_text().splitlines()]
    assert (run["run"], run["status"], run["components"]) == (
        int(results.runs["run_id"][0]),
        "done",
        {"matmul": "torch"},
    )
    assert run["metrics"]["4x4x4.correct"] == 1.0
    assert sweep == {"sweep": results.sweep_id, "counts": {**sweep["counts"], "done": 1}}
