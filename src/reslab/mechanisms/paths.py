"""Gradient by path length (Veit, Wilber, Belongie 2016, Sec. 5, Fig. 6). A residual net of n blocks is a sum of
2^n paths; a path of length k goes through the branch of k blocks and the shortcut of the others. To sample one:
feed the batch forward through the whole net, then in the backward pass propagate through only the branch of k
sampled blocks and only the shortcut of the n - k others; the gradient that arrives at the input of the first block
is that path's. Its norm times the number of such paths, C(n, k), is the share of the total gradient that paths of
length k carry. A gate (highway blocks) is treated as part of neither path: no gradient flows through it.
"""
import math
import random

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reslab.mechanisms.common import hooks, preserved, residual_blocks


def _detach(module, inputs, output):
    return output.detach()


def path_gradient(model: nn.Module, x: Tensor, y: Tensor, branches) -> Tensor:
    """The gradient of the summed cross-entropy at the input of the first residual block through the path that
    takes the branch of the blocks whose indices are in `branches` and the shortcut of every other block (eval
    mode: the samples do not interact, so row i is sample i's gradient)."""
    blocks = residual_blocks(model)
    if any(b.merge == "none" for b in blocks):
        raise ValueError("a block without a shortcut has one path: gradient by path length needs shortcuts")
    branches = set(branches)
    cut = [b.shortcut if i in branches else b.branch for i, b in enumerate(blocks)]
    return _first_block_gradient(model, x, y, cut + [b.gate for b in blocks if hasattr(b, "gate")])


def full_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """The ordinary gradient at the input of the first residual block (every path), eval mode."""
    return _first_block_gradient(model, x, y, ())


def _first_block_gradient(model: nn.Module, x: Tensor, y: Tensor, cut) -> Tensor:
    """The gradient of the summed cross-entropy (eval mode) at the input of the first residual block, with the
    outputs of the modules `cut` detached from the backward pass."""
    grabbed = {}

    def leaf(module, inputs):
        grabbed["x"] = inputs[0].detach().requires_grad_()
        return (grabbed["x"],)

    handles = [residual_blocks(model)[0].register_forward_pre_hook(leaf)]
    handles += [module.register_forward_hook(_detach) for module in cut]
    with preserved(model), hooks(handles), torch.enable_grad():
        loss = F.cross_entropy(model.eval()(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, grabbed["x"])
    return grad


def path_norms(model: nn.Module, x: Tensor, y: Tensor, samples: int = 4, seed: int = 0) -> list[dict]:
    """Rows {k, sample, norm}: for k = 0 .. n and `samples` seeded draws of k blocks each (one for k = 0 and n),
    the mean over the batch of the per-sample gradient norm of one path of length k."""
    n = len(residual_blocks(model))
    rng = random.Random(seed)
    rows = []
    for k in range(n + 1):
        for s in range(1 if k in (0, n) else samples):
            grad = path_gradient(model, x, y, rng.sample(range(n), k))
            rows.append({"k": k, "sample": s, "norm": float(grad.flatten(1).norm(dim=1).mean())})
    return rows


def shares(norms: list[float]) -> list[float]:
    """Each path length's share of the total gradient: norms[k] * C(n, k), normalised (n = len(norms) - 1)."""
    n = len(norms) - 1
    totals = [v * math.comb(n, k) for k, v in enumerate(norms)]
    whole = sum(totals)
    return [t / whole for t in totals]


def carrying(share: list[float], fraction: float = 0.9) -> tuple[int, int]:
    """The shortest range of path lengths [lo, hi] whose shares add up to at least `fraction` (the lowest such
    range when several are as short)."""
    best = (0, len(share) - 1)
    for lo in range(len(share)):
        total = 0.0
        for hi in range(lo, len(share)):
            total += share[hi]
            if total >= fraction - 1e-12:
                if hi - lo < best[1] - best[0]:
                    best = (lo, hi)
                break
    return best
