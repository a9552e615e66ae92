"""Signal propagation at initialisation (Brock, De, Smith 2021, "signal propagation plots"; De & Smith 2020): on
one batch, per residual block, the residual stream's average channel squared mean and average channel variance
(the block's output), and the variance of what the branch adds relative to what the shortcut adds. BatchNorm uses
the batch's statistics (training mode, as at a training step); dropout and stochastic depth are off.

What the branch adds is F(h) times the merge's branch factor (alpha of weighted/scale merges, g of an exclusive
gate); what the shortcut adds is S(h) times its factor (beta, 1 - g). Row 0 is the stream entering the first block.
"""
import torch
from torch import Tensor, nn

from reslab.mechanisms.common import batch_statistics_mode, hooks, preserved, residual_blocks


def channel_stats(x: Tensor) -> tuple[float, float]:
    """(average over channels of the squared channel mean, average over channels of the channel variance) of
    x (N, C, ...) or (N, F), the statistics over the batch and every position (biased variance)."""
    x = x.detach().double().transpose(0, 1).flatten(1)  # (C, N * positions)
    return float(x.mean(1).pow(2).mean()), float(x.var(1, unbiased=False).mean())


def _factors(block, grabbed) -> tuple[Tensor | float, Tensor | float]:
    """(branch factor, shortcut factor) of the block's merge."""
    if block.merge in ("weighted", "scale"):
        return block.alpha, block.beta
    if block.merge == "gate_exclusive":
        return grabbed["gate"], 1 - grabbed["gate"]
    if block.merge == "gate_shortcut":
        return 1.0, 1 - grabbed["gate"]
    return 1.0, 1.0


def signal_propagation(model: nn.Module, x: Tensor) -> list[dict]:
    """Rows {block, stream_sq_mean, stream_var, branch_var, shortcut_var, ratio} (ratio = branch_var /
    shortcut_var; NaN where a block has no shortcut), row 0 the stream entering the first block."""
    blocks = residual_blocks(model)
    rows, grabbed = [], {}

    def entering(module, inputs):
        sq, var = channel_stats(inputs[0])
        rows.append({"block": 0, "stream_sq_mean": sq, "stream_var": var, "branch_var": float("nan"),
                     "shortcut_var": float("nan"), "ratio": float("nan")})

    def keep(name):
        def hook(module, inputs, output):
            grabbed[name] = output.detach().clone()  # before the in-place ReLUs that follow
        return hook

    def leaving(block):
        def hook(module, inputs, output):
            alpha, beta = _factors(block, grabbed)
            branch = channel_stats(alpha * grabbed["branch"])[1]
            shortcut = channel_stats(beta * grabbed["shortcut"])[1] if block.merge != "none" else float("nan")
            sq, var = channel_stats(output)
            rows.append({"block": len(rows), "stream_sq_mean": sq, "stream_var": var, "branch_var": branch,
                         "shortcut_var": shortcut, "ratio": branch / shortcut if shortcut else float("nan")})
        return hook

    handles = [blocks[0].register_forward_pre_hook(entering)]
    for b in blocks:
        handles += [b.branch.register_forward_hook(keep("branch")), b.register_forward_hook(leaving(b))]
        if b.shortcut is not None:
            handles.append(b.shortcut.register_forward_hook(keep("shortcut")))
        if hasattr(b, "gate"):
            handles.append(b.gate.register_forward_hook(keep("gate")))
    with preserved(model), hooks(handles), torch.no_grad():
        batch_statistics_mode(model)(x)
    return rows
