"""The normalisation layers of the lessons' 07_batchnorm, as ``nn.Module`` classes.

Imported by the builders in :mod:`scratchlab.plugins.norms` when a norm is built (in the
worker that runs it), so that registering the norms does not import torch.

Each is an ``nn.Module`` for image batches ``(n, c, h, w)``, written from
scratch; the tests check forward and backward against ``torch.nn``'s module
in train and eval mode, where one exists. Two deliberate departures from the
notebook, so that the comparison can be exact:

- the batch statistics are differentiated through (the notebook's
  ``BatchNorm`` computes them under ``no_grad``, a different backward from
  every library's);
- features are normalised by the *biased* variance (the mean of squared
  deviations), as ``torch.nn`` does; ``BatchNorm``'s running variance is the
  unbiased one, as ``torch.nn.BatchNorm2d``'s. (The notebook's ``x.var`` is
  unbiased throughout: a factor ``n/(n-1)`` inside the square root.)

``LayerNorm`` keeps the notebook's single scalar ``mult`` and ``add``;
``torch.nn.LayerNorm`` learns one per element, so the test compares the
unscaled part. ``RunningBatchNorm`` (the notebook's final version) has no
torch counterpart: it normalises with running sums in training too, debiased,
which keeps tiny batches (bs 2) from being normalised by their own noise.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from scratchlab.plugins.norms import groups_problem

#: dimensions each normalisation averages over, for (n, c, h, w) input
BATCH_DIMS = (0, 2, 3)
LAYER_DIMS = (1, 2, 3)
INSTANCE_DIMS = (2, 3)


def normalise(x: torch.Tensor, dims: tuple[int, ...], eps: float) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps)`` over ``dims``, biased variance (as torch.nn)."""
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, keepdim=True, unbiased=False)
    return (x - mean) / (var + eps).sqrt()


class Affine(nn.Module):
    """A learned per-channel scale ``mults`` (ones) and shift ``adds`` (zeros)."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.mults = nn.Parameter(torch.ones(nf, 1, 1))
        self.adds = nn.Parameter(torch.zeros(nf, 1, 1))

    def affine(self, x: torch.Tensor) -> torch.Tensor:
        """``x * mults + adds``."""
        return x * self.mults + self.adds


class BatchNorm(Affine):
    """The lessons' ``BatchNorm``: per channel over the batch and the pixels; running
    ``means``/``vars`` blended with ``lerp_(batch, mom)`` (torch's ``momentum``) for eval."""

    def __init__(self, nf: int, mom: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__(nf)
        self.mom, self.eps = mom, eps
        self.register_buffer("vars", torch.ones(1, nf, 1, 1))
        self.register_buffer("means", torch.zeros(1, nf, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise by the batch's statistics in training (and update the running ones),
        by the running ones in eval."""
        if self.training:
            with torch.no_grad():
                n = x.numel() / x.shape[1]
                self.means.lerp_(x.mean(BATCH_DIMS, keepdim=True), self.mom)
                # torch keeps the unbiased variance for eval
                unbiased = x.var(BATCH_DIMS, keepdim=True, unbiased=False) * n / max(n - 1, 1)
                self.vars.lerp_(unbiased, self.mom)
            return self.affine(normalise(x, BATCH_DIMS, self.eps))
        return self.affine((x - self.means) / (self.vars + self.eps).sqrt())


class LayerNorm(nn.Module):
    """The lessons' ``LayerNorm``: each sample over channels and pixels; one scalar ``mult``
    and ``add``; the same in train and eval."""

    def __init__(self, nf: int = 0, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.mult = nn.Parameter(torch.tensor(1.0))
        self.add = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised over dims 1-3, then ``* mult + add``."""
        return normalise(x, LAYER_DIMS, self.eps) * self.mult + self.add


class InstanceNorm(Affine):
    """The lessons' ``InstanceNorm``: each sample's channel over its pixels (the notebook's
    ``eps=1e-0`` is a typo for 1e-5); the same in train and eval."""

    def __init__(self, nf: int, eps: float = 1e-5) -> None:
        super().__init__(nf)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised over dims 2-3, then the per-channel affine."""
        return self.affine(normalise(x, INSTANCE_DIMS, self.eps))


class GroupNorm(Affine):
    """Group normalisation: channels in ``groups`` groups, each sample's group over its pixels
    (the notebook points to ``nn.GroupNorm``; this is it from scratch). ``groups`` must divide
    ``nf``, as ``nn.GroupNorm`` requires: ValueError otherwise (planning refuses it earlier)."""

    def __init__(self, nf: int, groups: int = 4, eps: float = 1e-5) -> None:
        super().__init__(nf)
        if (problem := groups_problem(nf, groups=groups)) is not None:
            raise ValueError(f"groupnorm: {problem}")
        self.groups = groups
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised within each group, then the per-channel affine."""
        n, c, h, w = x.shape
        grouped = x.reshape(n, self.groups, c // self.groups, h * w)
        return self.affine(normalise(grouped, (2, 3), self.eps).reshape(n, c, h, w))


class RunningBatchNorm(Affine):
    """The lessons' final ``RunningBatchNorm``: normalise by running, debiased sums, also in training.

    Each training batch lerps ``sums``, ``sqrs`` and ``count`` towards its own with
    weight ``mom1 = 1 - (1 - mom) / sqrt(bs - 1)`` (small batches move the averages less);
    ``dbias`` corrects the zero start for the first 100 steps; the variance is
    clamped at 0.01 until 20 samples have been seen.
    """

    def __init__(self, nf: int, mom: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__(nf)
        self.mom, self.eps = mom, eps
        for name, value in (
            ("sums", torch.zeros(1, nf, 1, 1)),
            ("sqrs", torch.zeros(1, nf, 1, 1)),
            ("batch", torch.tensor(0.0)),
            ("count", torch.tensor(0.0)),
            ("step", torch.tensor(0.0)),
            ("dbias", torch.tensor(0.0)),
        ):
            self.register_buffer(name, value)

    def update_stats(self, x: torch.Tensor) -> None:
        """Blend this batch's sums into the running ones (gradients flow through this batch's part)."""
        bs, nc = x.shape[:2]
        self.sums.detach_()
        self.sqrs.detach_()
        s = x.sum(BATCH_DIMS, keepdim=True)
        ss = (x * x).sum(BATCH_DIMS, keepdim=True)
        c = x.numel() / nc
        # bs 1 would divide by zero: the lessons never ran it; treat it as bs 2
        mom1 = 1 - (1 - self.mom) / math.sqrt(max(bs - 1, 1))
        self.sums = torch.lerp(self.sums, s, mom1)
        self.sqrs = torch.lerp(self.sqrs, ss, mom1)
        self.count.lerp_(self.count.new_tensor(c), mom1)
        self.dbias.mul_(1 - mom1).add_(mom1)
        self.batch += bs
        self.step += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise by the running means and variances (updated first in training)."""
        if self.training:
            self.update_stats(x)
        sums, sqrs, c = self.sums, self.sqrs, self.count
        if self.step < 100:
            sums, sqrs, c = sums / self.dbias, sqrs / self.dbias, c / self.dbias
        means = sums / c
        variances = sqrs / c - means * means
        if self.batch < 20:
            variances = variances.clamp_min(0.01)
        return self.affine((x - means) / (variances + self.eps).sqrt())
