"""Stages: a run of residual blocks (plain) or a Cross Stage Partial stage around one (CSPNet, Wang et al. 2020).

A stage builder takes `make_block(cin, mid, cout, stride) -> ResidualBlock` and a `unit(cin, cout, kernel,
stride) -> layers` (conv + BN + ReLU, or linear + norm + ReLU), so conv networks and MLPs share them.
"""
import torch
from torch import nn

from reslab.models.layout import csp_part


def residual_stage(make_block, cin: int, mid: int, cout: int, stride: int, n: int) -> nn.Sequential:
    """n blocks; the first one changes the shape (cin -> cout, stride)."""
    return nn.Sequential(*(make_block(cin if i == 0 else cout, mid, cout, stride if i == 0 else 1)
                           for i in range(n)))


class CSPStage(nn.Module):
    """down -> 1x1 split into two parts -> part one through the blocks and a 1x1 transition, part two bypasses
    -> concat -> 1x1 fuse."""

    def __init__(self, down: nn.Module, split: nn.Module, blocks: nn.Module, transition: nn.Module,
                 fuse: nn.Module, parts: list[int]):
        super().__init__()
        self.down, self.split, self.blocks, self.transition, self.fuse = down, split, blocks, transition, fuse
        self.parts = parts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        through, bypass = self.split(self.down(x)).split(self.parts, dim=1)
        return self.fuse(torch.cat([self.transition(self.blocks(through)), bypass], dim=1))


def csp_stage(unit, make_block, cin: int, mid: int, cout: int, stride: int, n: int,
              split_ratio: float) -> CSPStage:
    """The down unit (3x3, stride) maps cin to the stage's base width `mid` where the shape changes; the blocks
    work on split_ratio * cout channels with the plain stage's expansion (cout / mid)."""
    through = csp_part(cout, split_ratio)
    down = nn.Sequential(*unit(cin, mid, 3, stride)) if stride > 1 or cin != mid else nn.Identity()
    blocks = residual_stage(make_block, through, max(1, through * mid // cout), through, 1, n)
    return CSPStage(down, nn.Sequential(*unit(mid, cout, 1)), blocks, nn.Sequential(*unit(through, through, 1)),
                    nn.Sequential(*unit(cout, cout, 1)), [through, cout - through])
