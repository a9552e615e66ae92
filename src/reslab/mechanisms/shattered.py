"""Shattered gradients (Balduzzi et al. 2017): the gradient of the network's output with respect to its input, at
points along a line of inputs, and how it correlates between points a given distance apart. Without shortcuts
the correlation decays exponentially with depth (the gradient looks like white noise); with shortcuts and BN it
decays slowly.

The output is one number per input, u . logits with a fixed random unit vector u. BatchNorm in training mode
couples the samples of a batch, so the per-point gradient is taken with BatchNorm's statistics fixed to those of a
batch of real data (`common.calibrate_batchnorm`): each BN is then the affine map a training step applies, the
points are independent, and one backward pass gives every point's own gradient.
"""
import torch
from torch import Tensor, nn

from reslab.mechanisms.common import calibrate_batchnorm, preserved


def line_gradients(model: nn.Module, start: Tensor, end: Tensor, points: int = 256, calibration: Tensor | None = None,
                   seed: int = 0) -> Tensor:
    """(points, input size): d(u . logits)/d input at `points` evenly spaced inputs from `start` to `end` (two
    inputs of the network's input shape). `calibration`: the inputs BatchNorm's statistics are taken from (None:
    the model's own running statistics)."""
    t = torch.linspace(0, 1, points, device=start.device, dtype=start.dtype).view(-1, *([1] * start.dim()))
    line = ((1 - t) * start + t * end).requires_grad_()
    with preserved(model), torch.enable_grad():
        if calibration is not None:
            calibrate_batchnorm(model, [calibration])
        logits = model.eval()(line)
        u = torch.randn(logits.shape[1], generator=torch.Generator().manual_seed(seed)).to(logits)
        (grad,) = torch.autograd.grad(logits @ (u / u.norm()), line, torch.ones(points, device=line.device,
                                                                               dtype=line.dtype))
    return grad.flatten(1)


def autocorrelation(grads: Tensor, max_lag: int | None = None) -> list[dict]:
    """Rows {lag, corr, centred} for lag = 0 .. max_lag (default: a quarter of the points): `corr` the mean cosine
    similarity of the gradients of points `lag` apart; `centred` the same with the mean gradient of the line
    subtracted first, as an autocovariance normalised by the variance (NaN when the gradient does not vary)."""
    g = grads.detach().double()
    lags = range((max_lag if max_lag is not None else len(g) // 4) + 1)
    unit = g / g.norm(dim=1, keepdim=True).clamp_min(1e-300)
    c = g - g.mean(0)
    variance = float(c.pow(2).sum(1).mean())
    rows = []
    for lag in lags:
        corr = float((unit[: len(g) - lag] * unit[lag:]).sum(1).mean())
        cov = float((c[: len(g) - lag] * c[lag:]).sum(1).mean())
        rows.append({"lag": lag, "corr": corr, "centred": cov / variance if variance > 1e-24 else float("nan")})
    return rows
