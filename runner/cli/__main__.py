"""``python -m scratchlab.runner.cli``: the ``runner`` command, as the tests and workers start it."""

from scratchlab.runner.cli import main

main()
