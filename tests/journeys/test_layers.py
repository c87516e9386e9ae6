"""The layering of docs/architecture.md holds: `.ci/lint-imports` (import-linter's
contracts in .ci/importlinter.toml, over the tree laid out as installed) keeps every
contract."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="needs import-linter")
def test_every_layer_contract_is_kept():
    done = subprocess.run(
        [str(ROOT / ".ci" / "lint-imports")], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
