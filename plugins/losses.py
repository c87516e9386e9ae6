"""Built-in losses, from the lessons' 02_fully_connected (``mse``) and
03_minibatch_training (negative log likelihood after three log-softmaxes).

The three log-softmax variants are the lessons' steps towards numerical
stability: ``log(exp(x) / sum exp(x))`` overflows for large logits,
``x - log(sum exp(x))`` still overflows inside the sum, and the max-shifted
``logsumexp`` does not. They are public so tests and experiments can compare
them directly.
"""

from __future__ import annotations

from collections.abc import Callable

from scratchlab.plugins import Loss, hookimpl
from scratchlab.plugins.contracts import in_range
from scratchlab.plugins.lazytorch import F, torch


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The lessons' ``mse``: ``(output.squeeze(-1) - target).pow(2).mean()`` for one output column."""
    return (output.squeeze(-1) - target).pow(2).mean()


def mse_grad(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The lessons' ``mse_grad``: ``2 * (output - target) / n``, shaped like ``output``."""
    return 2.0 * (output.squeeze(-1) - target).unsqueeze(-1) / output.shape[0]


def log_softmax_naive(x: torch.Tensor) -> torch.Tensor:
    """``log(exp(x) / sum exp(x))`` over the last dim: overflows (nan) for logits above ~88 in float32."""
    return (x.exp() / x.exp().sum(-1, keepdim=True)).log()


def log_softmax_simplified(x: torch.Tensor) -> torch.Tensor:
    """``x - log(sum exp(x))``: the log of a quotient as a difference; the sum can still overflow."""
    return x - x.exp().sum(-1, keepdim=True).log()


def logsumexp(x: torch.Tensor) -> torch.Tensor:
    """The lessons' own ``logsumexp`` over the last dim: ``m + log(sum exp(x - m))``, m the row max.

    Shifting by the maximum keeps every exponent at or below zero, so nothing
    overflows; rows of all ``-inf`` stay ``-inf`` rather than becoming nan.
    """
    m = x.max(-1)[0]
    # a row of -inf would give -inf - -inf = nan; shifting such a row by 0 is exact
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return m + (x - m[..., None]).exp().sum(-1).log()


def log_softmax_stable(x: torch.Tensor) -> torch.Tensor:
    """``x - logsumexp(x)`` with the own max-shifted :func:`logsumexp`: no overflow."""
    return x - logsumexp(x)[..., None]


def nll(log_probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The lessons' ``nll``: minus the mean log probability of each row's target class."""
    rows = torch.arange(target.shape[0], device=log_probs.device)
    return -log_probs[rows, target].mean()


def nll_naive(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative log likelihood after :func:`log_softmax_naive`."""
    return nll(log_softmax_naive(output), target)


def nll_simplified(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative log likelihood after :func:`log_softmax_simplified`."""
    return nll(log_softmax_simplified(output), target)


def nll_logsumexp(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative log likelihood after :func:`log_softmax_stable`."""
    return nll(log_softmax_stable(output), target)


def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PyTorch's ``F.cross_entropy`` (log_softmax + nll_loss in one kernel)."""
    return F.cross_entropy(output, target)


def softmax_grad(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d loss / d output of softmax + negative log likelihood: ``(softmax - onehot) / n``.

    The softmax is computed the stable way, so the gradient is finite even
    where the naive loss itself overflows.
    """
    probs = log_softmax_stable(output).exp()
    onehot = F.one_hot(target, output.shape[-1]).to(probs.dtype)
    return (probs - onehot) / output.shape[0]


#: 10b_mixup_label_smoothing's epsilon
LABEL_SMOOTHING = 0.1


def label_smoothing(
    output: torch.Tensor, target: torch.Tensor, *, eps: float = LABEL_SMOOTHING
) -> torch.Tensor:
    """The lessons' ``LabelSmoothingCrossEntropy``: ``eps`` times the mean of ``-log p`` over
    every class plus ``1 - eps`` times the NLL (= ``F.cross_entropy(label_smoothing=eps)``)."""
    log_preds = log_softmax_stable(output)
    spread = -log_preds.sum(dim=-1).mean() / output.shape[-1]
    return eps * spread + (1 - eps) * nll(log_preds, target)


def label_smoothing_grad(
    output: torch.Tensor, target: torch.Tensor, *, eps: float = LABEL_SMOOTHING
) -> torch.Tensor:
    """``(softmax - smoothed one-hot) / n``, the smoothed target ``(1 - eps) * onehot + eps / c``."""
    c = output.shape[-1]
    probs = log_softmax_stable(output).exp()
    smoothed = (1 - eps) * F.one_hot(target, c).to(probs.dtype) + eps / c
    return (probs - smoothed) / output.shape[0]


#: name -> (forward, description) of the classification losses
CLASSIFICATION: dict[str, tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], str]] = {
    "nll-naive": (nll_naive, "NLL of log(exp(x)/sum exp(x)); overflows to nan on large logits."),
    "nll-simplified": (nll_simplified, "NLL of x - log(sum exp(x)); the sum can still overflow."),
    "nll-logsumexp": (nll_logsumexp, "NLL of x - logsumexp(x), own max-shifted logsumexp: stable."),
    "cross-entropy": (cross_entropy, "PyTorch's F.cross_entropy, the reference."),
}


@hookimpl
def register_losses(register):
    """Register mse, the four classification losses and label smoothing."""
    register(
        Loss(
            name="mse",
            forward=mse,
            grad=mse_grad,
            n_outputs=1,
            target="float",
            description="Mean squared error on one output with the labels as floats (the lessons' mse).",
        )
    )
    for name, (forward, description) in CLASSIFICATION.items():
        register(
            Loss(
                name=name,
                forward=forward,
                grad=softmax_grad,
                n_outputs=None,
                target="class",
                description=description,
            )
        )
    register(
        Loss(
            name="label-smoothing",
            forward=label_smoothing,
            grad=label_smoothing_grad,
            n_outputs=None,
            target="class",
            params={"eps": LABEL_SMOOTHING},
            bounds={"eps": in_range(0, 1)},
            description="Label-smoothing cross-entropy, eps of the target spread over all classes (10b).",
        )
    )
