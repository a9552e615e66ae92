"""The small layers the shortcut designs are made of: option-A shortcut, scalar bias and multiplier (Fixup),
stochastic depth, the dropout shortcut, and the conv/linear "family" that turns an order template into layers."""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as functional
from torch import nn

GROUPS = 32  # GroupNorm groups (Wu & He 2018), or the largest divisor of the channel count below it


class ZeroPadShortcut(nn.Module):
    """Option A: subsample by `stride` and append zero channels up to `cout`; no parameters."""

    def __init__(self, cout: int, stride: int):
        super().__init__()
        self.cout, self.stride = cout, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return functional.pad(x, (0, 0, 0, 0, 0, self.cout - x.shape[1]))


class _Scalar(nn.Module):
    """op(x, p) with one learnable scalar parameter p, called `NAME`, starting at `START`."""

    NAME, START, OP = "bias", 0.0, torch.add

    def __init__(self):
        super().__init__()
        self.register_parameter(self.NAME, nn.Parameter(torch.tensor(self.START)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.OP(x, getattr(self, self.NAME))


class ScalarBias(_Scalar):
    """x + b with one learnable scalar b, initialised to 0 (Fixup)."""


class ScalarScale(_Scalar):
    """s * x with one learnable scalar s, initialised to 1 (Fixup's multiplier)."""

    NAME, START, OP = "scale", 1.0, torch.mul


class _Drop(nn.Module):
    """A layer that drops with probability `p` while training."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def extra_repr(self) -> str:
        return f"p={self.p:.4g}"


class DropPath(_Drop):
    """Stochastic depth (Huang et al. 2016), per sample: in training each sample's input is zeroed with
    probability `p` and the others are scaled by 1 / (1 - p); in eval mode the identity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1 - self.p
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype).bernoulli_(keep)
        return x * mask / keep


class ShortcutDropout(_Drop):
    """He et al. 2016's dropout shortcut: each element kept with probability 1 - p and NOT rescaled, so the
    shortcut carries (1 - p) x in expectation ("a scale of 0.5" at p = 0.5); eval mode multiplies by 1 - p."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x * (1 - self.p)
        return x * torch.empty_like(x).bernoulli_(1 - self.p)


@dataclass(frozen=True)
class Family:
    """The layers of a conv network (Conv2d, BatchNorm2d | GroupNorm) or of a residual MLP (Linear, BatchNorm1d |
    LayerNorm). `fixup` adds Fixup's scalar biases and multiplier; convs/linears get a bias only where there is
    neither a norm nor Fixup's scalar biases."""

    conv: bool
    norm: str  # batch | group | layer | none
    fixup: bool = False
    dropout: float = 0.0  # MLP branches: dropout after each unit but the last

    def weight(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, bias: bool | None = None) -> nn.Module:
        bias = self.norm == "none" and not self.fixup if bias is None else bias
        if self.conv:
            return nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=bias)
        return nn.Linear(cin, cout, bias=bias)

    def norm_layer(self, channels: int) -> nn.Module | None:
        if self.norm == "none":
            return None
        if self.norm == "group":
            return nn.GroupNorm(math.gcd(GROUPS, channels), channels)
        if self.norm == "layer":
            return nn.LayerNorm(channels)
        return nn.BatchNorm2d(channels) if self.conv else nn.BatchNorm1d(channels)

    def layers(self, template: str, cin: int, cout: int, kernel: int = 1, stride: int = 1,
               first_inplace: bool = True) -> list[nn.Module]:
        """The layers of `template`: "c" conv/linear cin -> cout, "n" norm (of cin channels before "c", of cout
        after), "r" ReLU, "a" scalar bias, "m" scalar multiplier, "d" dropout. A leading ReLU is not in-place
        unless `first_inplace` (a block's input is also its shortcut's)."""
        layers, seen_weight = [], False
        for token in template:
            if token == "c":
                layer = self.weight(cin, cout, kernel, stride)
                seen_weight = True
            elif token == "n":
                layer = self.norm_layer(cout if seen_weight else cin)
            elif token == "r":
                layer = nn.ReLU(inplace=bool(layers) or first_inplace)
            elif token == "a":
                layer = ScalarBias()
            elif token == "m":
                layer = ScalarScale()
            else:  # "d"
                layer = nn.Dropout(self.dropout) if self.dropout else None
            if layer is not None:
                layers.append(layer)
        return layers
