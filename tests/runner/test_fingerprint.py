"""The fingerprint of what a run cannot undo, checked in this process (no worker)."""

from __future__ import annotations

import functools

import pytest

from scratchlab.runner.fingerprint import Fingerprint


def test_a_patch_is_seen_and_torchs_own_lazy_wrappers_are_not(monkeypatch: pytest.MonkeyPatch):
    import torch

    fingerprint = Fingerprint([], limit=None)
    # what importing torch._dynamo does to torch.manual_seed: a wrapper from torch's own files
    monkeypatch.setattr(torch, "manual_seed", torch._disable_dynamo(torch.manual_seed))
    assert not fingerprint.compare()
    original = torch.matmul

    @functools.wraps(original)
    def noisy(a, b):  # a plugin's wrapper looks like the original but is not torch's
        return original(a, b) + 1

    monkeypatch.setattr(torch, "matmul", noisy)
    assert fingerprint.compare().phrases == ["replaced torch.matmul"]
