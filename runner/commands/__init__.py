"""One module per ``runner`` sub-command family; imported lazily by :mod:`scratchlab.runner.cli`."""
