"""What every instrument needs: the residual blocks in forward order, the model left as it was found, BatchNorm
statistics of one batch, and the test error."""
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from reslab.models.blocks import ResidualBlock


def residual_blocks(model: nn.Module) -> list[ResidualBlock]:
    """Every ResidualBlock of `model`, in forward order (CSP stages' inner blocks included)."""
    return [m for m in model.modules() if isinstance(m, ResidualBlock)]


@contextmanager
def preserved(model: nn.Module):
    """Inside, change `model`'s modes and buffers at will: on exit every module's training flag and every buffer
    (BatchNorm's running statistics) are as they were."""
    flags = {m: m.training for m in model.modules()}
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    momenta = {m: m.momentum for m in model.modules() if isinstance(m, _BatchNorm)}
    try:
        yield model
    finally:
        for m, flag in flags.items():
            m.training = flag
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for m, momentum in momenta.items():
            m.momentum = momentum


@contextmanager
def hooks(handles: list):
    """Remove the hook handles collected in `handles` on exit."""
    try:
        yield handles
    finally:
        for handle in handles:
            handle.remove()


def calibrate_batchnorm(model: nn.Module, batches) -> nn.Module:
    """Replace every BatchNorm's running statistics by those of `batches` (their exact average), then eval mode:
    each BatchNorm becomes the per-channel affine map training-mode BN applies to that data, and the samples of a
    batch no longer interact. Use inside `preserved(model)`."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
        m.train()
    with torch.no_grad():
        for x in batches:
            model(x)
    return model.eval()


def batch_statistics_mode(model: nn.Module) -> nn.Module:
    """BatchNorm normalises with the batch's own statistics (training mode); dropout, stochastic depth and the
    dropout shortcut are off (eval mode): the network's function at a training step, without its randomness."""
    model.eval()
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.train()
    return model


def error(model: nn.Module, batches: list[tuple[Tensor, Tensor]]) -> float:
    """Fraction of misclassified samples of `batches` [(x, y), ...], the model as it is (call eval() first)."""
    wrong, n = 0, 0
    with torch.inference_mode():
        for x, y in batches:
            wrong += int((model(x).argmax(1) != y).sum())
            n += len(y)
    return wrong / n
