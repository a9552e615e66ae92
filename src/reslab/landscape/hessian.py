"""Curvature of the loss: the Hessian's extreme eigenvalues by power iteration on Hessian-vector products (double
backward), and Li et al.'s convexity ratio |lambda_min / lambda_max|. Eval mode, plain cross-entropy."""
import math
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reslab.landscape.surface import evaluate

KEYS = ("curvature/lambda_max", "curvature/lambda_min", "curvature/convexity_ratio", "curvature/train_loss",
        "curvature/seconds")


def hessian_vector_product(model: nn.Module, data: list[tuple[Tensor, Tensor]]):
    """v -> H v for the mean cross-entropy over `data`, H the Hessian with respect to all trainable parameters,
    vectors flat (parameter order). Double backward, batch by batch."""
    params = [p for p in model.parameters() if p.requires_grad]
    n = sum(len(y) for _, y in data)

    def product(v: Tensor) -> Tensor:
        parts = [part.view_as(p) for part, p in zip(v.split([p.numel() for p in params]), params)]
        out = torch.zeros_like(v)
        with torch.enable_grad():
            for x, y in data:
                loss = F.cross_entropy(model(x), y, reduction="sum") / n
                grads = torch.autograd.grad(loss, params, create_graph=True)
                out += torch.cat([h.reshape(-1) for h in torch.autograd.grad(grads, params, grad_outputs=parts)])
        return out

    return product, sum(p.numel() for p in params)


def power_iteration(matvec, size: int, iterations: int, tolerance: float, generator: torch.Generator,
                    like: Tensor, shift: float = 0.0) -> float:
    """The eigenvalue of a symmetric operator H farthest from `shift` (power iteration on H - shift * I); stops
    when the estimate changes by less than `tolerance` of itself from one iteration to the next, or after
    `iterations`. Vectors have the dtype and device of `like`."""
    v = torch.randn(size, generator=generator).to(like)
    v /= v.norm()
    eigenvalue = math.nan
    for _ in range(iterations):
        hv = matvec(v) - shift * v
        estimate = float(hv @ v) + shift
        v = hv / hv.norm()
        converged = abs(estimate - eigenvalue) <= tolerance * abs(estimate)
        eigenvalue = estimate
        if converged:
            break
    return eigenvalue


def hessian_extremes(model: nn.Module, data: list[tuple[Tensor, Tensor]], iterations: int = 100,
                     tolerance: float = 1e-3, seed: int = 0, min_eigenvalue: bool = True) -> tuple[float, float]:
    """(lambda_max, lambda_min) of the loss Hessian. Power iteration finds the eigenvalue of largest magnitude,
    then power iteration shifted by it finds the other end of the spectrum (lambda_min is NaN when not asked).
    The second converges slowly when |lambda_min| is small: it then often runs all `iterations`."""
    product, size = hessian_vector_product(model, data)
    generator = torch.Generator().manual_seed(seed)
    like = next(model.parameters())
    first = power_iteration(product, size, iterations, tolerance, generator, like)
    if not min_eigenvalue:
        return first, math.nan
    other = power_iteration(product, size, iterations, tolerance, generator, like, shift=first)
    return max(first, other), min(first, other)


def curvature(model: nn.Module, data: list[tuple[Tensor, Tensor]], iterations: int = 100, tolerance: float = 1e-3,
              seed: int = 0, min_eigenvalue: bool = True) -> dict:
    """The metrics.json `curvature/*` figures of `model` (put in eval mode meanwhile) on `data`; NaN when the loss
    there is not finite (a diverged run)."""
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        loss, _ = evaluate(model, data)
        top, bottom = hessian_extremes(model, data, iterations, tolerance, seed, min_eigenvalue) \
            if math.isfinite(loss) else (math.nan, math.nan)
    finally:
        model.train(was_training)
    ratio = abs(bottom / top) if top else math.nan
    values = (top, bottom, ratio, loss, round(time.perf_counter() - start, 3))
    return dict(zip(KEYS, values))
