"""The lesson categories' component types import without torch, as the plugin guide says."""

from __future__ import annotations

import subprocess
import sys


def test_optimizer_schedule_and_norm_types_import_without_torch():
    code = (
        "import sys; from scratchlab.plugins.training_types import Norm, Optimizer, Schedule; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
