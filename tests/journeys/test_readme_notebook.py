"""The README's "In a notebook" section works as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def section_code() -> str:
    text = README.read_text()
    section = text.split("## In a notebook", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_readme_notebook_section_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(section_code(), str(README), "exec"), namespace)  # the README's own example
    runs, kept = namespace["runs"], namespace["kept"]
    assert sorted(runs["init"]) == ["kaiming-normal", "randn"] and "deep.last_std" in runs
    assert kept["init"].tolist() == ["kaiming-normal"]  # randn's last layer is not finite
    assert namespace["sweep"].status == "done" and len(namespace["sweep"].runs()) == 2
    assert (tmp_path / "runs.db").exists()
