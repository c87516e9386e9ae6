"""Where a data-dependent init (LSUV, 07a_lsuv) calibrates the built-in experiments' models.

07a calibrates each ``ConvLayer``, a convolution and the activation after it: the weight
is divided by the block's output std, and the block's ``bias`` (its GeneralRelu's ``sub``,
applied after the activation) shifts its mean to 0. Here every model is calibrated the
same way, so the activations the experiments record have std 1 at each block's output:

- the CNN: each :class:`~.models.ConvLayer` (convolution, activation, norm), as 07a (its
  last linear layer is left as drawn);
- a Sequential of layers and activations (the MLP ``lin1, act1, lin2``, init-stats' ``conv,
  act``, one layer of the deep stack): each layer with a weight together with the
  activation after it (a :class:`Unit`: the weight scaled, the activation's output shifted),
  and a last layer that no activation follows on its own (its weight and its bias).

A model whose block cannot be brought to mean 0 and std 1 (outputs that are constant,
not finite, or do not respond) raises :class:`~scratchlab.plugins.Skip` naming the block:
the run is skipped with the reason, never run with another init's weights.
"""

from __future__ import annotations

import math
from typing import Any

from scratchlab.plugins import Skip


class Unit:
    """LSUV's view of a layer and the activation after it: the forward hook goes on
    ``output`` (the activation), ``weight`` is the layer's, ``bias`` the activation's shift."""

    def __init__(self, output: Any, weight: Any) -> None:
        self.output, self.weight = output, weight

    def register_forward_hook(self, hook: Any) -> Any:
        """Hook the activation, whose output is calibrated."""
        return self.output.register_forward_hook(hook)

    @property
    def bias(self) -> Any:
        """The activation's output shift."""
        return self.output.bias

    @bias.setter
    def bias(self, value: Any) -> None:
        self.output.bias = value


def units(model: Any) -> dict[str, Any]:
    """What LSUV calibrates in ``model``, by the name of the layer whose output it sets, in order."""
    from scratchlab.plugins.experiments.models import Activation, ConvLayer

    children = list(model.named_children())
    convs = {name: child for name, child in children if isinstance(child, ConvLayer)}
    if convs:  # the CNN: its conv layers, as 07a (the last linear layer is left as drawn)
        return convs
    found: dict[str, Any] = {}
    for index, (name, child) in enumerate(children):
        if getattr(child, "weight", None) is not None and not isinstance(child, Activation):
            after = children[index + 1] if index + 1 < len(children) else None
            if after is not None and isinstance(after[1], Activation):
                found[after[0]] = Unit(after[1], child.weight)
            elif getattr(child, "bias", None) is not None:
                found[name] = child
    return found


def settled(mean: float, std: float, tol: float) -> bool:
    """Whether LSUV reached its target: ``|mean|`` and ``|std - 1|`` within ``tol``."""
    return math.isfinite(mean) and abs(mean) <= tol and abs(std - 1) <= tol


def calibrate(
    model: Any, init: Any, xb: Any, what: str = "model"
) -> dict[str, tuple[float, float]]:
    """Run a data-dependent init's ``calibrate`` (LSUV) on ``model`` with the batch ``xb``.

    Returns each calibrated block's final (mean, std) by name; empty for an ordinary init.
    Raises :class:`Skip` naming ``what`` and the block when one does not reach mean 0
    and std 1 (within the init's tolerance, 07a's 1e-3).
    """
    from scratchlab.plugins.inits import LSUV_MAX_ITER, LSUV_TOL

    calibrate_fn = getattr(init, "calibrate", None)
    if calibrate_fn is None:
        return {}
    found = units(model)
    if not found:
        raise Skip(f"{init.name} cannot calibrate the {what}: it has no layer with a weight")
    results = dict(zip(found, calibrate_fn(model, xb, list(found.values())), strict=True))
    for name, (mean, std) in results.items():
        if not settled(mean, std, LSUV_TOL):
            raise Skip(
                f"{init.name} cannot calibrate {name} of the {what}: its output has mean"
                f" {mean:.3g} and std {std:.3g} after {LSUV_MAX_ITER} rounds (wanted 0 and 1)"
            )
    return results
