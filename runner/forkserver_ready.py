"""Imported last by the worker forkserver (:data:`scratchlab.runner.workerstart.PRELOAD`),
after torch: freezes every object the server's imports made (``gc.freeze``).

A forked worker's garbage collections then skip torch's hundreds of thousands of objects,
whose memory pages stay shared with the server (a collection writes to each object it
walks), and the server's own exit does not walk them either (about 0.35 s of CPU each time).
"""

from __future__ import annotations

import gc

gc.freeze()
