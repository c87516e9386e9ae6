"""The README's search example plans what it says (a dry run: nothing is run or written)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from scratchlab.runner.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_search_plans_its_space(tmp_path: Path) -> None:
    section = README.split("### Searching instead of the whole grid", 1)[1]
    block = re.search(r"```bash\n(.*?)\n```", section, re.S).group(1)
    command = block.replace("\\\n", " ").splitlines()[0]
    argv = shlex.split(command)[1:]  # without "runner"
    argv[argv.index("--db") + 1] = f"sqlite:///{tmp_path / 'search.db'}"
    result = CliRunner().invoke(cli, [*argv, "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (
        "tpe, 20 trials of train over optimizer in {sgd, momentum, adam, lamb}"
        " × norm in {none, batchnorm, groupnorm} × train.lr in 0.01..2 (log)"
    ) in result.output
    assert not (tmp_path / "search.db").exists()


def test_the_plugin_guide_pruned_experiment_is_pruned(plugin_path, tmp_path: Path) -> None:
    import scratchlab as sl

    guide = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, re.S)
    source = next(b for b in blocks if "def climb(ctx)" in b)
    plugin_path({"climbing": source})
    done = sl.sweep(
        experiments="climb",
        settings={"climb.rate": "0.01..1:log"},
        search="random",
        trials=12,
        objective="score",
        prune="median",
        plugin_modules=["climbing"],
        inline=True,
        db=tmp_path / "climb.db",
        progress=False,
    )
    statuses = set(done.runs()["status"])
    assert statuses == {"done", "pruned"}
