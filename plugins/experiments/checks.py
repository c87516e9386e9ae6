"""Error measures shared by the experiments that check a result against a reference.

The relative error is *normwise*: the largest absolute error divided by the
largest absolute value of the reference. An element-wise ratio is not used
because some entries of a product or a gradient are arbitrarily close to
zero, where float32 rounding alone gives ratios near 1 and the number says
nothing about the implementation.
"""

from __future__ import annotations

from typing import Any


def error_vector(result: Any, reference: Any) -> Any:
    """``[max_abs_err, max_rel_err]`` of ``result`` against ``reference``, one tensor on their device.

    Computed in float64 so the reference's precision is kept. Raises
    ``ValueError`` when the shapes differ. ``max_rel_err`` is 0 when both are
    all zeros and inf when only the reference is.
    """
    import torch

    if tuple(result.shape) != tuple(reference.shape):
        raise ValueError(
            f"result has shape {tuple(result.shape)}, the reference {tuple(reference.shape)}"
        )
    abs_err = (result.to(torch.float64) - reference.to(torch.float64)).abs().max()
    scale = reference.to(torch.float64).abs().max()
    zero = torch.zeros((), dtype=torch.float64, device=abs_err.device)
    rel_err = torch.where(abs_err == 0, zero, abs_err / scale)
    return torch.stack([abs_err, rel_err])
