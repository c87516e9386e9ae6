"""The reference side of ``train_overhead.py``: the lessons' minibatch loop, written out by hand.

As 03_minibatch_training has it: ``nn.Linear -> relu -> nn.Linear``,
``F.cross_entropy``, ``loss.backward()``, a plain SGD step under
``torch.no_grad()``, ``model.zero_grad()``; one epoch, then the valid loss and
accuracy. It starts from the weights the ``train`` experiment draws from
:data:`SEED`, so that both sides do the same work.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

#: the seed both sides start from
SEED = 0


class Model(nn.Module):
    """The lessons' model once it uses registered parameters (03_minibatch_training)."""

    def __init__(self, n_in: int, nh: int, n_out: int) -> None:
        super().__init__()
        self.l1 = nn.Linear(n_in, nh)
        self.l2 = nn.Linear(nh, n_out)

    def forward(self, x):
        """``l2(relu(l1(x)))``."""
        return self.l2(F.relu(self.l1(x)))


def bare_loop(data, params, log_every: int = 0) -> dict:
    """The lessons' minibatch loop, by hand; returns the epoch's seconds and the valid loss/accuracy.

    ``params`` are the train run's (``bs``, ``lr``, ``hidden``), so both sides
    train with the same hyper-parameters whatever the experiment's defaults are.

    With ``log_every`` > 0 it also keeps the batch loss every ``log_every`` steps
    (``train_loss``, step -> value), for the check that both sides compute the
    same thing; the timed runs keep nothing.
    """
    bs, lr, nh = params["bs"], params["lr"], params["hidden"]
    x_train, y_train, x_valid, y_valid = data.x_train, data.y_train, data.x_valid, data.y_valid
    n, m = x_train.shape
    torch.manual_seed(SEED)
    # the experiment's weights: Kaiming normal in (out, in) layout, lin1 then lin2, biases zero
    w1 = torch.empty(nh, m).normal_(0.0, math.sqrt(2.0) / math.sqrt(m))
    w2 = torch.empty(data.n_classes, nh).normal_(0.0, 1.0 / math.sqrt(nh))
    model = Model(m, nh, data.n_classes)
    with torch.no_grad():
        model.l1.weight.copy_(w1)
        model.l2.weight.copy_(w2)
        model.l1.bias.zero_()
        model.l2.bias.zero_()
    loss_func = F.cross_entropy
    logged: dict[int, torch.Tensor] = {}

    started = time.perf_counter()
    for i in range((n - 1) // bs + 1):
        start_i = i * bs
        end_i = start_i + bs
        xb = x_train[start_i:end_i]
        yb = y_train[start_i:end_i]
        loss = loss_func(model(xb), yb)
        if log_every and i % log_every == 0:
            logged[i] = loss.detach()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= p.grad * lr
            model.zero_grad()
    epoch_seconds = time.perf_counter() - started

    # the lessons' fit then reports the valid loss and accuracy; rows weighted, as the experiment does
    with torch.no_grad():
        tot_loss, tot_correct = 0.0, 0.0
        for start_i in range(0, x_valid.shape[0], bs):
            xb, yb = x_valid[start_i : start_i + bs], y_valid[start_i : start_i + bs]
            pred = model(xb)
            tot_loss += loss_func(pred, yb) * xb.shape[0]
            tot_correct += (pred.argmax(dim=1) == yb).float().sum()
    nv = x_valid.shape[0]
    return {
        "epoch_time_s": epoch_seconds,
        "valid_loss": float(tot_loss / nv),
        "valid_accuracy": float(tot_correct / nv),
        "train_loss": {step: float(value) for step, value in logged.items()},
    }
