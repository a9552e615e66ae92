"""How a network starts: He et al.'s (Kaiming) normal init of every conv, then the scheme of `model.init` on each
residual branch and `zero_init_residual`.

- kaiming: nothing more.
- dirac: every branch conv (linear) starts as the identity on its first min(cin, cout) output channels, the
  others keep their random init (DiracNets, Zagoruyko & Komodakis 2017; airbench's shortcut-free CIFAR net).
- fixup (Zhang et al. 2019): the last conv of each branch starts at zero, the others are scaled by L^(-1/(2m-2))
  (L residual branches, m convs per branch), the classifier starts at zero. The scalar biases and multipliers are
  layers (`reslab.models.layers`), added by the builder.
"""
import torch
from torch import nn

from reslab.models.blocks import ResidualBlock

WEIGHT_LAYERS = (nn.Conv2d, nn.Linear)


def identity_(weight: torch.Tensor) -> None:
    """The first min(cout, cin) output channels of a conv/linear weight become the identity (centre tap)."""
    rows = weight[: min(weight.shape[0], weight.shape[1])]
    (nn.init.dirac_ if weight.dim() > 2 else nn.init.eye_)(rows)


def initialise(model: nn.Module, init: str, zero_init_residual: bool) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    with torch.no_grad():
        for block in blocks:
            weights = [layer for layer in block.branch if isinstance(layer, WEIGHT_LAYERS)]
            if init == "dirac":
                for layer in weights:
                    identity_(layer.weight)
            elif init == "fixup":
                for layer in weights[:-1]:
                    layer.weight.mul_(len(blocks) ** (-1 / (2 * len(weights) - 2)))
                nn.init.zeros_(weights[-1].weight)
            if zero_init_residual:
                nn.init.zeros_([layer for layer in block.branch if getattr(layer, "weight", None) is not None][-1]
                               .weight)
        if init == "fixup":
            classifier = [m for m in model.head.modules() if isinstance(m, nn.Linear)][-1]
            nn.init.zeros_(classifier.weight)
            nn.init.zeros_(classifier.bias)
