"""The ground every other package stands on: run records, text safety and the shared keys.

Stdlib only and no I/O, so any layer may import it (import-linter checks that
nothing here imports another scratchlab package). ``from scratchlab.plugins
import RunResult`` therefore costs no SQLAlchemy.
"""
