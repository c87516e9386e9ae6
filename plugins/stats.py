"""Activation statistics and deferred metric values, moved off the device in one go.

An experiment records many small numbers from tensors that live on the run's
device: six statistics per layer output, a training loss every few steps.
Turning each into a Python float would synchronise the device every time (a
CUDA sync per statistic, or per step). :class:`RecordBuffer` instead keeps each
value as a small tensor on the device, computed right away (so later in-place
changes to the source tensor do not matter), and converts them all with one
``.tolist()`` per device when the run is flushed.

torch is imported inside the functions that need it, so importing this
module (and the run context) stays cheap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from scratchlab.core.records import MetricRecord, StatRecord

#: the statistics of one tensor, in the order of :func:`stat_vector`
STAT_FIELDS: tuple[str, ...] = ("mean", "std", "min", "max", "frac_zero", "frac_nonfinite")

#: flush pending values once this many are waiting, to bound device memory
#: and the number of live tensors in a long training run
MAX_PENDING = 4096


def stat_vector(tensor: Any) -> Any:
    """The six statistics of ``tensor`` as one 1-D tensor on its device.

    Order as :data:`STAT_FIELDS`: mean, std (unbiased; NaN for one element),
    min, max, the fraction of exact zeros and the fraction of non-finite
    values. NaN and infinities are kept, not filtered: a layer that blew up
    reports ``mean`` NaN and ``frac_nonfinite`` > 0, which is the finding.
    Half-precision inputs are summarised in float32 so the sums do not
    overflow. Raises ``ValueError`` for an empty tensor (no statistic exists).
    """
    import torch

    t = tensor.detach().reshape(-1)
    if t.numel() == 0:
        raise ValueError("cannot compute statistics of an empty tensor")
    if not t.is_floating_point() or t.element_size() < 4:
        t = t.float()
    std, mean = torch.std_mean(t)
    return torch.stack(
        [
            mean,
            std,
            t.amin(),
            t.amax(),
            (t == 0).to(t.dtype).mean(),
            (~torch.isfinite(t)).to(t.dtype).mean(),
        ]
    )


def first_output_tensor(output: Any) -> Any:
    """The tensor a forward hook should summarise: ``output`` itself, or the
    first tensor of a tuple/list output (e.g. an RNN's ``(out, state)``); None if there is none."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    return None


class RecordBuffer:
    """Stat and metric records whose values may still be tensors on a device.

    ``add_stats`` and ``add_metric`` append; :meth:`flush` converts every
    pending tensor with one ``.tolist()`` per device and returns nothing;
    :attr:`stats` and :attr:`metrics` flush first, so they always hold plain
    floats.
    """

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self._stats: list[StatRecord] = []
        self._metrics: list[MetricRecord] = []
        # (record, tensor) pairs whose numbers are still on the device
        self._pending: list[tuple[Any, Any]] = []
        self._max_pending = max_pending

    def add_stats(
        self, model: str, layer: int, name: str, tensor: Any, step: int | None = None
    ) -> None:
        """Summarise ``tensor`` now (on its device) and record it as one layer's statistics."""
        record = StatRecord(
            model=str(model),
            layer=int(layer),
            name=str(name),
            mean=float("nan"),
            std=float("nan"),
            min=float("nan"),
            max=float("nan"),
            frac_zero=float("nan"),
            frac_nonfinite=float("nan"),
            step=None if step is None else int(step),
        )
        self._stats.append(record)
        self._defer(record, stat_vector(tensor))

    def add_metric(self, name: str, value: Any, step: int | None = None) -> None:
        """Record one metric value: a number, or a one-element tensor read at flush time."""
        step = None if step is None else int(step)
        if _is_tensor(value):
            if value.numel() != 1:
                raise ValueError(
                    f"metric {name!r} needs one value, got a tensor of shape {tuple(value.shape)}"
                )
            record = MetricRecord(name=str(name), value=float("nan"), step=step)
            self._metrics.append(record)
            # detach so a logged loss does not keep its autograd graph alive
            self._defer(record, value.detach().reshape(1))
        else:
            self._metrics.append(MetricRecord(name=str(name), value=float(value), step=step))

    def _defer(self, record: Any, values: Any) -> None:
        self._pending.append((record, values))
        if len(self._pending) >= self._max_pending:
            self.flush()

    def flush(self) -> None:
        """Move every pending value to the CPU: one ``.tolist()`` per device."""
        if not self._pending:
            return
        import torch

        pending, self._pending = self._pending, []
        by_device: dict[Any, list[tuple[Any, Any]]] = {}
        for record, values in pending:
            by_device.setdefault(values.device, []).append((record, values))
        for items in by_device.values():
            # float64 holds every float dtype's values exactly
            flat = torch.cat([v.to(torch.float64) for _, v in items]).tolist()
            offset = 0
            for record, values in items:
                n = values.numel()
                _fill(record, flat[offset : offset + n])
                offset += n

    def discard_pending(self) -> int:
        """Drop values that can no longer be read (the device failed); return how many."""
        dropped = {id(r) for r, _ in self._pending}
        self._pending = []
        self._stats = [r for r in self._stats if id(r) not in dropped]
        self._metrics = [r for r in self._metrics if id(r) not in dropped]
        return len(dropped)

    @property
    def stats(self) -> list[StatRecord]:
        """Every stat record so far, as plain floats."""
        self.flush()
        return list(self._stats)

    @property
    def metrics(self) -> list[MetricRecord]:
        """Every metric record so far, as plain floats."""
        self.flush()
        return list(self._metrics)


def _is_tensor(value: Any) -> bool:
    # avoid importing torch for plain numbers
    return type(value).__module__.startswith("torch") and hasattr(value, "numel")


def _fill(record: Any, numbers: list[float]) -> None:
    if isinstance(record, StatRecord):
        for field_name, number in zip(STAT_FIELDS, numbers):
            setattr(record, field_name, number)
    else:
        record.value = numbers[0]


@contextlib.contextmanager
def watch_children(
    buffer: RecordBuffer, module: Any, model: str, step: int | None = None
) -> Iterator[None]:
    """Record the output of each child of ``module`` while the block runs.

    Layers are numbered from 1 in the order of ``module.named_children()``
    and named by the child's attribute name (``lin1``, ``act1``, ...); a module
    without children is recorded as layer 1 under its class name. Every call
    of a hooked child inside the block adds one record. The hooks are removed
    on exit, even when the block raises, so the model is left as it was.
    """
    children = list(module.named_children()) or [(type(module).__name__, module)]
    handles = []

    def hook_for(index: int, name: str) -> Any:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            tensor = first_output_tensor(output)
            if tensor is not None and tensor.numel() > 0:
                buffer.add_stats(model, index, name, tensor, step)

        return hook

    try:
        for index, (name, child) in enumerate(children, start=1):
            handles.append(child.register_forward_hook(hook_for(index, name)))
        yield
    finally:
        for handle in handles:
            handle.remove()
