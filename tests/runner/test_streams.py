"""A run that closes or replaces the standard streams gets them put back (runner/streams.py)."""

from __future__ import annotations

import io
import os
import sys

from scratchlab.runner.streams import Streams


def test_a_replaced_sys_stdout_is_put_back_and_named():
    streams = Streams()
    original = sys.stdout
    try:
        sys.stdout = io.StringIO()
        assert streams.restore() == ["replaced sys.stdout"]
        assert sys.stdout is original
        assert streams.restore() == []  # nothing changed since
    finally:
        sys.stdout = original
        streams.close()


def test_a_redirected_descriptor_is_put_back(tmp_path):
    streams = Streams()
    before = os.fstat(2)
    saved = os.dup(2)
    try:
        with open(tmp_path / "elsewhere", "w") as f:
            os.dup2(f.fileno(), 2)
        assert "closed or redirected file descriptor 2" in streams.restore()
        after = os.fstat(2)
        assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        streams.close()
