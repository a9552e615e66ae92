"""Lesion study (Veit, Wilber, Belongie 2016, "Residual networks behave like ensembles of relatively shallow
networks", Fig. 3-5): delete residual blocks from a trained network at test time, or swap blocks, and measure the
test error. BatchNorm statistics stay as trained (the paper's protocol) unless `recalibrate` batches are given.

A deleted residual block computes only its shortcut: post(merge(0, S(pre(x)))), so a block that changes the shape
keeps its projection or zero-pad shortcut. A block without a shortcut (`noshortcut`) is replaced by the identity,
which is possible only where its input and output shapes agree (the paper's VGG case).
"""
import random
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from reslab.mechanisms.common import calibrate_batchnorm, error, hooks, preserved, residual_blocks
from reslab.models.blocks import ResidualBlock


def block_shapes(model: nn.Module, x: Tensor) -> list[tuple[tuple, tuple]]:
    """(input shape, output shape) of every residual block on input `x` (batch dimension dropped)."""
    shapes = []
    with hooks([b.register_forward_hook(lambda m, i, o: shapes.append((tuple(i[0].shape[1:]), tuple(o.shape[1:]))))
                for b in residual_blocks(model)]), torch.inference_mode(), preserved(model):
        model.eval()(x[:1])
    return shapes


def removable(block: ResidualBlock, shape: tuple[tuple, tuple]) -> bool:
    """A block with a shortcut can always be deleted; one without only where its shape does not change."""
    return block.merge != "none" or shape[0] == shape[1]


def _zero(module, inputs, output):
    return torch.zeros_like(output)


def _identity(module, inputs, output):
    return inputs[0]


@contextmanager
def lesioned(blocks: list[ResidualBlock]):
    """Inside, each of `blocks` computes only its shortcut (its branch's output is zero), or, without a shortcut,
    the identity."""
    handles = [b.branch.register_forward_hook(_zero) if b.merge != "none" else b.register_forward_hook(_identity)
               for b in blocks]
    with hooks(handles):
        yield


def _parents(model: nn.Module) -> dict[ResidualBlock, tuple[nn.Module, str]]:
    """{block: (the module holding it, its attribute name)}."""
    return {child: (parent, name) for parent in model.modules() for name, child in parent.named_children()
            if isinstance(child, ResidualBlock)}


@contextmanager
def reordered(model: nn.Module, order: list[int]):
    """Inside, position i of the network runs block `order[i]` (indices into `residual_blocks(model)`)."""
    blocks = residual_blocks(model)
    places = _parents(model)
    try:
        for i, j in enumerate(order):
            parent, name = places[blocks[i]]
            parent._modules[name] = blocks[j]
        yield
    finally:
        for block, (parent, name) in places.items():
            parent._modules[name] = block


def _measure(model: nn.Module, batches, recalibrate) -> float:
    if recalibrate:
        calibrate_batchnorm(model, recalibrate)
    return error(model.eval(), batches)


def lesion_study(model: nn.Module, batches: list[tuple[Tensor, Tensor]], draws: int = 5, seed: int = 0,
                 reorder: bool = True, recalibrate: list[Tensor] | None = None) -> list[dict]:
    """Rows {kind, k, draw, blocks, error} on `batches` [(x, y), ...] of test data:
    kind "none" (the intact net), "single" (block k deleted, k = 0 .. n-1; error NaN where it cannot be),
    "random" (k random deletable blocks deleted, k = 1 .. all, `draws` seeded draws each), "reorder" (k random
    transpositions of same-shape blocks, k = 1 .. their count, `draws` draws each; only with `reorder`).
    `recalibrate`: training inputs to recompute BatchNorm's statistics on for every lesioned net (off: None)."""
    blocks = residual_blocks(model)
    shapes = block_shapes(model, batches[0][0])
    able = [i for i, (b, s) in enumerate(zip(blocks, shapes)) if removable(b, s)]
    rng = random.Random(seed)
    rows = []
    with preserved(model):
        rows.append({"kind": "none", "k": 0, "draw": 0, "blocks": "", "error": _measure(model, batches, recalibrate)})
        for i in range(len(blocks)):
            value = float("nan")
            if i in able:
                with lesioned([blocks[i]]):
                    value = _measure(model, batches, recalibrate)
            rows.append({"kind": "single", "k": i, "draw": 0, "blocks": str(i), "error": value})
        for k in range(1, len(able) + 1):
            for draw in range(draws):
                chosen = sorted(rng.sample(able, k))
                with lesioned([blocks[i] for i in chosen]):
                    value = _measure(model, batches, recalibrate)
                rows.append({"kind": "random", "k": k, "draw": draw, "blocks": " ".join(map(str, chosen)),
                             "error": value})
        if reorder:
            rows += _reorder_rows(model, batches, shapes, draws, rng, recalibrate)
    return rows


def _reorder_rows(model, batches, shapes, draws, rng, recalibrate) -> list[dict]:
    """k random transpositions, each of two blocks with the same input and output shape (k = 1 .. that count)."""
    kinds: dict[tuple, list[int]] = {}
    for i, (cin, cout) in enumerate(shapes):
        if cin == cout:
            kinds.setdefault(cin, []).append(i)
    pools = [p for p in kinds.values() if len(p) > 1]
    rows = []
    for k in range(1, sum(len(p) for p in pools) // 2 + 1):
        for draw in range(draws):
            order = list(range(len(shapes)))
            swaps = []
            for _ in range(k):
                pool = rng.choice(pools)
                a, b = rng.sample(pool, 2)
                order[a], order[b] = order[b], order[a]
                swaps.append(f"{a}-{b}")
            with reordered(model, order):
                value = _measure(model, batches, recalibrate)
            rows.append({"kind": "reorder", "k": k, "draw": draw, "blocks": " ".join(swaps), "error": value})
    return rows
