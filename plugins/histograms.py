"""Activation histograms, 06_cuda_cnn_hooks_init's "colorful dimension", kept compactly.

The lessons' telemetry hook appends ``outp.histc(40, -7, 7)`` for every layer at
every training step, and reads "how many activations are near zero" off the
middle bins (``get_min``: bins 19-21 of 40, the values in [-0.35, 0.7), over the
values the histogram counts). Here
each layer and step becomes one :class:`~scratchlab.core.records.HistogramRecord`:
the bin counts and the near-zero fraction, computed on the tensor's device
right away and read back in one transfer per device when the run ends (no
device sync per step).

torch is imported inside functions, as in :mod:`scratchlab.plugins.stats`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from scratchlab.core.records import HistogramRecord

#: read pending histograms back once this many wait, to bound device memory in a long run
MAX_PENDING = 4096


@dataclass(frozen=True)
class Binning:
    """``bins`` equal-width bins from ``lo`` to ``hi``; the lessons' default is 40 over [-7, 7]."""

    lo: float = -7.0
    hi: float = 7.0
    bins: int = 40

    def __post_init__(self) -> None:
        if not (self.bins >= 3 and self.hi > self.lo):
            raise ValueError(
                f"histogram needs hi > lo and at least 3 bins, got {self.lo}..{self.hi} in {self.bins}"
            )

    @property
    def width(self) -> float:
        """Width of one bin."""
        return (self.hi - self.lo) / self.bins

    @property
    def near_zero_bins(self) -> tuple[int, int]:
        """The bins counted as near zero, ``(first, stop)``: the bin holding 0 and one on each
        side; with the lessons' binning bins 19-21 (``h1[19:22]`` in ``get_min``).

        When 0 lies outside ``[lo, hi)`` they are the three bins at that end.
        """
        holding_zero = min(max(math.floor(-self.lo / self.width), 1), self.bins - 2)
        return holding_zero - 1, holding_zero + 2

    @property
    def near_zero(self) -> tuple[float, float]:
        """The values of :attr:`near_zero_bins`: ``[-0.35, 0.7)`` with the lessons' binning."""
        first, stop = self.near_zero_bins
        return self.lo + first * self.width, self.lo + stop * self.width


def histogram_vector(tensor: Any, binning: Binning) -> Any:
    """``[count of bin 0, ..., count of bin n-1, fraction near zero, fraction out of range]``
    of ``tensor``, on its device.

    Counts are of the values inside ``[lo, hi]`` (``torch.histc``). The near-zero fraction is
    06's ``get_min``: the near-zero bins' counts over the counts of every bin, i.e. over the
    values inside the range (NaN when none is). The fraction out of range is of every value:
    the share the histogram does not see (beyond ``lo``/``hi``, or not finite), stored beside
    it so that a layer whose outputs fly out of range does not look healthy.
    """
    import torch

    t = tensor.detach().reshape(-1)
    if not t.is_floating_point() or t.element_size() < 4:
        t = t.float()
    counts = torch.histc(t, bins=binning.bins, min=binning.lo, max=binning.hi)
    first, stop = binning.near_zero_bins
    inside = counts.sum()
    near = counts[first:stop].sum() / inside
    outside = 1 - inside / max(t.numel(), 1)
    return torch.cat([counts, near.reshape(1), outside.reshape(1)])


class HistogramBuffer:
    """Histogram records whose numbers may still be on a device; :attr:`records` reads them."""

    def __init__(self) -> None:
        self._records: list[HistogramRecord] = []
        self._pending: list[tuple[HistogramRecord, Any]] = []

    def add(
        self, model: str, layer: int, name: str, tensor: Any, step: int | None, binning: Binning
    ) -> None:
        """Bin ``tensor`` now (on its device); the record is filled at :meth:`flush`."""
        if tensor.numel() == 0:
            return
        record = HistogramRecord(
            model=str(model),
            layer=int(layer),
            name=str(name),
            lo=binning.lo,
            hi=binning.hi,
            counts=[],
            frac_near_zero=math.nan,
            step=None if step is None else int(step),
        )
        self._records.append(record)
        self._pending.append((record, histogram_vector(tensor, binning)))
        if len(self._pending) >= MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        """Move every pending histogram to the CPU, one transfer per device."""
        if not self._pending:
            return
        import torch

        pending, self._pending = self._pending, []
        by_device: dict[Any, list[tuple[HistogramRecord, Any]]] = {}
        for record, values in pending:
            by_device.setdefault(values.device, []).append((record, values))
        for items in by_device.values():
            rows = torch.stack([v.to(torch.float64) for _, v in items]).tolist()
            for (record, _), row in zip(items, rows, strict=True):
                record.counts = [round(c) for c in row[:-2]]
                record.frac_near_zero = row[-2]

    def discard_pending(self) -> int:
        """Drop histograms that can no longer be read (the device failed); return how many."""
        dropped = {id(r) for r, _ in self._pending}
        self._pending = []
        self._records = [r for r in self._records if id(r) not in dropped]
        return len(dropped)

    @property
    def records(self) -> list[HistogramRecord]:
        """Every histogram so far, read back."""
        self.flush()
        return list(self._records)


@contextlib.contextmanager
def watch_histograms(
    buffer: HistogramBuffer,
    module: Any,
    model: str,
    step: int | None,
    binning: Binning,
    only: Collection[str] | None = None,
) -> Iterator[None]:
    """Bin the output of each child of ``module`` (those named in ``only``, or all) while the block runs.

    Layers are numbered from 1 in ``named_children`` order, as
    :func:`scratchlab.plugins.stats.watch_children` numbers them, so a layer's
    histograms and statistics share its number. The hooks are removed on exit.
    """
    from scratchlab.plugins.stats import first_output_tensor

    handles = []

    def hook_for(index: int, name: str) -> Any:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            tensor = first_output_tensor(output)
            if tensor is not None:
                buffer.add(model, index, name, tensor, step, binning)

        return hook

    try:
        for index, (name, child) in enumerate(module.named_children(), start=1):
            if only is None or name in only:
                handles.append(child.register_forward_hook(hook_for(index, name)))
        yield
    finally:
        for handle in handles:
            handle.remove()
