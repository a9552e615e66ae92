"""Loss landscapes (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets"): the loss on a fixed subset of
the training data at w + a*d1 (+ b*d2), the d's random directions with filter normalisation: each filter (output
slice of a conv or linear weight) of a direction is rescaled to the norm of the matching weight filter, so the
picture does not depend on the scale of the weights (which BatchNorm leaves free) and nets of different sizes can
be compared; BatchNorm and bias directions are zero. Everything runs in eval mode with plain cross-entropy.
"""
import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import default_collate
from tqdm import tqdm

from reslab.data.augment import normalize

EVAL_BATCH = 512  # samples per forward pass while evaluating; only speed and memory depend on it


def training_subset(data, samples: int, seed: int) -> tuple[Tensor, Tensor]:
    """The first `samples` training examples after a permutation seeded by `seed`, normalised as the network sees
    them (no augmentation). `data` is a set-up `ReslabData`."""
    train = data.splits.train
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:samples]
    x, y = default_collate([train[i] for i in order.tolist()])
    if data.info.kind == "image":  # uint8 -> float, as ReslabData.on_after_batch_transfer does
        x = normalize(x, data._mean.to(x.device), data._std.to(x.device))
    return x, y


def batches(x: Tensor, y: Tensor, device, channels_last: bool = False) -> list[tuple[Tensor, Tensor]]:
    """(x, y) moved to `device` once and cut into evaluation batches."""
    x = x.to(device)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return list(zip(x.split(EVAL_BATCH), y.to(device).split(EVAL_BATCH)))


def evaluate(model: nn.Module, data: list[tuple[Tensor, Tensor]]) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` (as it is: call .eval() first) over the batches."""
    total, correct, n = 0.0, 0, 0
    with torch.inference_mode():
        for x, y in data:
            logits = model(x)
            total = total + F.cross_entropy(logits, y, reduction="sum")
            correct = correct + (logits.argmax(1) == y).sum()
            n += len(y)
    return float(total) / n, float(correct) / n


def random_direction(model: nn.Module, generator: torch.Generator) -> list[Tensor]:
    """A Gaussian direction shaped like `model.parameters()`, filter-normalised; zero for 0-/1-D parameters
    (BatchNorm, biases, WRC scalars). Drawn on the CPU, so the same generator state gives the same direction on
    any device."""
    direction = []
    for p in model.parameters():
        d = torch.zeros_like(p)
        if p.dim() > 1:
            d.copy_(torch.randn(p.shape, generator=generator))
            scale = p.detach().flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1).clamp_min(1e-12)
            d.mul_(scale.view(-1, *[1] * (p.dim() - 1)))
        direction.append(d)
    return direction


def random_directions(model: nn.Module, dims: int, seed: int) -> list[list[Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [random_direction(model, generator) for _ in range(dims)]


def loss_surface(model: nn.Module, data: list[tuple[Tensor, Tensor]], directions: list[list[Tensor]],
                 coords: np.ndarray, progress: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at w + sum_k c_k * d_k for every point of coords x ... x coords (one axis per direction);
    arrays of shape (len(coords),) * len(directions), indexed [a, b]. The weights are set in place on the one
    model and restored afterwards. `progress` is the label of a progress bar (None: no bar)."""
    moving = [i for i, p in enumerate(model.parameters()) if p.dim() > 1]
    params = [p for i, p in enumerate(model.parameters()) if i in moving]
    steps = [[d[i] for i in moving] for d in directions]
    origin = [p.detach().clone() for p in params]
    grid = list(itertools.product(coords.tolist(), repeat=len(directions)))
    loss, acc = np.empty(len(grid)), np.empty(len(grid))
    try:
        for n, point in enumerate(tqdm(grid, desc=progress, unit="point", disable=progress is None)):
            with torch.no_grad():
                for j, (p, w) in enumerate(zip(params, origin)):
                    p.copy_(w)
                    for c, step in zip(point, steps):
                        p.add_(step[j], alpha=c)
            loss[n], acc[n] = evaluate(model, data)
    finally:
        with torch.no_grad():
            for p, w in zip(params, origin):
                p.copy_(w)
    shape = (len(coords),) * len(directions)
    return loss.reshape(shape), acc.reshape(shape)
