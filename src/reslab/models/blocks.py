"""One residual block design: out = relu(alpha * F(x) + beta * S(x)).

The branch F is a basic (3x3, 3x3), bottleneck (1x1, 3x3, 1x1) or MLP (linear, linear) stack. The shortcut S is
the identity, where the shape changes a 1x1 projection + BN or the parameter-free zero-pad "option A" (He et al.
2015), or None. The merge rule says how they combine: "sum" (plain residual), "weighted" (WRC: learnable alpha
and beta) or "none" (relu(F(x)): no shortcut at all).
"""
import torch
import torch.nn.functional as functional
from torch import nn

NORMS = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


def conv_unit(cin: int, cout: int, kernel: int, stride: int = 1, act: bool = True) -> list[nn.Module]:
    """conv (no bias: BN follows) + BN [+ ReLU]."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    return [*layers, nn.ReLU(inplace=True)] if act else layers


def linear_unit(fin: int, fout: int, norm: str, act: bool = True, dropout: float = 0.0) -> list[nn.Module]:
    """linear [+ norm] [+ ReLU] [+ dropout]; the linear has a bias only when no norm follows."""
    layers = [nn.Linear(fin, fout, bias=norm == "none")]
    if norm != "none":
        layers.append(NORMS[norm](fout))
    if act:
        layers.append(nn.ReLU(inplace=True))
    if dropout:
        layers.append(nn.Dropout(dropout))
    return layers


def basic_branch(cin: int, mid: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(*conv_unit(cin, mid, 3, stride), *conv_unit(mid, cout, 3, act=False))


def bottleneck_branch(cin: int, mid: int, cout: int, stride: int) -> nn.Sequential:
    """Stride on the 3x3 conv, as torchvision's ResNet v1.5."""
    return nn.Sequential(*conv_unit(cin, mid, 1), *conv_unit(mid, mid, 3, stride),
                         *conv_unit(mid, cout, 1, act=False))


def mlp_branch(fin: int, mid: int, fout: int, norm: str, dropout: float) -> nn.Sequential:
    return nn.Sequential(*linear_unit(fin, mid, norm, dropout=dropout), *linear_unit(mid, fout, norm, act=False))


class ZeroPadShortcut(nn.Module):
    """Option A: subsample by `stride` and append zero channels up to `cout`; no parameters."""

    def __init__(self, cout: int, stride: int):
        super().__init__()
        self.cout, self.stride = cout, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return functional.pad(x, (0, 0, 0, 0, 0, self.cout - x.shape[1]))


def make_shortcut(kind: str, cin: int, cout: int, stride: int) -> nn.Module:
    """Identity where the shape is kept, else a 1x1 projection + BN ("projection") or option A ("zeropad")."""
    if cin == cout and stride == 1:
        return nn.Identity()
    if kind == "projection":
        return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    return ZeroPadShortcut(cout, stride)


class ResidualBlock(nn.Module):
    """relu(alpha * branch(x) + beta * shortcut(x)).

    `merge` is "sum" (alpha = beta = 1, fixed), "weighted" (`alpha` a parameter, `beta` a parameter or, with
    learn_beta=False, a buffer) or "none" (no shortcut: relu(branch(x))).
    """

    def __init__(self, branch: nn.Module, shortcut: nn.Module | None, alpha_init: float | None = None,
                 beta_init: float = 1.0, learn_beta: bool = True):
        super().__init__()
        self.branch, self.shortcut = branch, shortcut
        self.merge = "none" if shortcut is None else "sum" if alpha_init is None else "weighted"
        if self.merge == "weighted":
            self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))
            beta = torch.tensor(float(beta_init))
            if learn_beta:
                self.beta = nn.Parameter(beta)
            else:
                self.register_buffer("beta", beta)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if self.merge == "sum":
            out = out + self.shortcut(x)
        elif self.merge == "weighted":
            out = self.alpha * out + self.beta * self.shortcut(x)
        return self.act(out)
