"""07a_lsuv: layer-sequential unit-variance init gives every conv layer unit std on a batch.

Seed 0, mnist-5k, the CNN with general-relu (leak 0.1, sub 0.4, maxv 6), bs 64.
"""

from __future__ import annotations

import pytest
import torch

from scratchlab.plugins import bind
from scratchlab.plugins.experiments.lsuv import calibrate
from scratchlab.plugins.experiments.models import cnn, conv_layers
from scratchlab.plugins.norms import norms

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONVS = ["conv1", "conv2", "conv3", "conv4"]


def test_train_records_unit_std_per_layer_after_lsuv(lesson, final):
    """The lesson: after LSUV each layer's output has mean ~0 and std 1 on the batch
    (the notebook prints (~0, 1.0) for every layer). Band: std 1 +- 0.05, |mean| <= 0.05."""
    result = lesson("train", {"init": "lsuv", "activation": "general-relu"}, {"model": "cnn"})
    for name in CONVS:
        assert final(result, f"lsuv_std.{name}") == pytest.approx(1.0, abs=0.05)
        assert abs(final(result, f"lsuv_mean.{name}")) <= 0.05
    assert final(result, "valid_accuracy") >= 0.8


def test_lsuv_holds_on_another_batch_and_kaiming_alone_does_not(registry):
    """On a held-out batch of 512 images LSUV's stds stay near 1 (band 0.85-1.15); plain
    Kaiming init with the same general-relu leaves them far from it (the reason for 07a)."""
    from scratchlab.runner.rundata import load_dataset

    entry = registry.get("dataset", "mnist-5k")
    data = load_dataset(bind(entry.component), entry.version)
    activation = bind(registry.get("activation", "general-relu").component)
    none = next(n for n in norms() if n.name == "none")

    def stds(init_name: str) -> list[float]:
        torch.manual_seed(0)
        init = bind(registry.get("init", init_name).component)
        model = cnn(
            784, 10, init, activation, none, device=torch.device("cpu"), dtype=torch.float32
        )
        calibrate(model, init, data.x_train[:64])
        seen = {}
        hooks = [
            layer.register_forward_hook(lambda m, i, o, n=name: seen.__setitem__(n, o.std().item()))
            for name, layer in conv_layers(model).items()
        ]
        with torch.no_grad():
            model(data.x_valid[:512])
        for hook in hooks:
            hook.remove()
        return [seen[name] for name in CONVS]

    assert all(0.85 <= s <= 1.15 for s in stds("lsuv")), stds("lsuv")
    assert any(abs(s - 1) > 0.2 for s in stds("kaiming-normal"))
