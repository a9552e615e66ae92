"""One residual block: out = post(merge(drop_path(F(h)), S(h))), h = pre(x).

Every shortcut design is data for this one block (`BlockDesign`): the branch F is a stack of units (conv or
linear with norm and ReLU) whose order comes from `reslab.models.options.ORDERS`; the shortcut S is the identity, or
where the shape changes a 1x1 projection or the zero-pad "option A" (He et al. 2015), optionally a 1x1 conv or a
dropout (He et al. 2016); the merge says how F and S combine: "sum", "weighted" (WRC: learnable alpha, beta),
"scale" (constants), "gate_exclusive" g F + (1 - g) S, "gate_shortcut" F + (1 - g) S (g = sigmoid(1x1 conv(h))), or
"none" (no shortcut). `pre` is the pre-activation that branch and shortcut share where the shape changes.
"""
from dataclasses import dataclass

import torch
from torch import nn

from reslab.models.catalog import BlockType
from reslab.models.layers import DropPath, Family, ShortcutDropout, ZeroPadShortcut
from reslab.models.options import ORDERS, ModelOptions

MERGES = ("none", "sum", "weighted", "scale", "gate_exclusive", "gate_shortcut")


class ResidualBlock(nn.Module):
    """post(merge(drop_path(branch(h)), shortcut(h))) with h = pre(x); see the module docstring."""

    def __init__(self, branch: nn.Module, shortcut: nn.Module | None, merge: str = "sum", *, alpha: float = 1.0,
                 beta: float = 1.0, learn_beta: bool = True, gate: nn.Module | None = None,
                 pre: nn.Module | None = None, post: nn.Module | None = None, drop_path: float = 0.0):
        super().__init__()
        if merge not in MERGES or (merge == "none") != (shortcut is None) or merge.startswith("gate") != (gate is not None):
            raise ValueError(f"merge={merge!r} does not fit shortcut={shortcut} and gate={gate}")
        self.pre = pre if pre is not None else nn.Identity()
        self.branch, self.shortcut, self.merge = branch, shortcut, merge
        if gate is not None:
            self.gate = gate
        if merge == "weighted":
            self.alpha = nn.Parameter(torch.tensor(float(alpha)))
            if learn_beta:
                self.beta = nn.Parameter(torch.tensor(float(beta)))
            else:
                self.register_buffer("beta", torch.tensor(float(beta)))
        elif merge == "scale":
            self.alpha, self.beta = float(alpha), float(beta)
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()
        self.post = post if post is not None else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre(x)
        out = self.drop_path(self.branch(x))
        if self.merge == "sum":
            out = out + self.shortcut(x)
        elif self.merge in ("weighted", "scale"):
            out = self.alpha * out + self.beta * self.shortcut(x)
        elif self.merge == "gate_exclusive":
            g = self.gate(x)
            out = g * out + (1 - g) * self.shortcut(x)
        elif self.merge == "gate_shortcut":
            out = out + (1 - self.gate(x)) * self.shortcut(x)
        return self.post(out)


@dataclass(frozen=True)
class BlockDesign:
    """What each block of a network computes: the merge of F and S with its two factors, and the model options
    (where BN and ReLU sit, the shortcut, the gate bias, the drop rates: `ModelOptions`, declared once)."""

    merge: str  # none | sum | weighted | scale | gate_exclusive | gate_shortcut
    opts: ModelOptions
    alpha: float = 1.0  # weighted / scale: branch factor
    beta: float = 1.0  # weighted / scale: shortcut factor

    @classmethod
    def of(cls, block: BlockType, opts: ModelOptions) -> "BlockDesign":
        """The design of a block type (CSP stages hold blocks of their type's merge); shortcut_op scale and the
        gates change a sum's merge, conv1x1 and dropout its shortcut."""
        op = opts.shortcut_op
        if block.merge == "weighted":
            return cls("weighted", opts, opts.alpha_init, opts.beta_init)
        if block.merge == "sum" and op == "scale":
            return cls("scale", opts, opts.branch_scale, opts.shortcut_scale)
        if block.merge == "sum" and op.startswith("gate"):
            return cls(op, opts)
        return cls(block.merge, opts)


def unit_templates(order: str, units: int, fixup: bool) -> list[str]:
    """The layer template of each unit of a branch (see `Family.layers`): the order's unit, its last unit, a
    dropout after each unit but the last (MLPs), and with Fixup a scalar bias before every conv and ReLU and a
    multiplier + bias at the end."""
    unit, last, _ = ORDERS[order]
    templates = [unit + "d"] * (units - 1) + [last]
    if fixup:
        templates = ["".join("a" + t if t in "cr" else t for t in tmpl) for tmpl in templates]
        templates[-1] += "ma"
    return templates


def make_branch(fam: Family, order: str, plan, share_pre: bool) -> tuple[nn.Module | None, nn.Sequential]:
    """(pre, branch) for the units of `plan` [(cin, cout, kernel, stride), ...]. With `share_pre` the ops before
    the first conv go to `pre`, which the shortcut reads too (He et al.'s pre-activation where the shape
    changes; Fixup's first bias)."""
    layers = []
    for i, (template, (cin, cout, kernel, stride)) in enumerate(zip(unit_templates(order, len(plan), fam.fixup),
                                                                      plan)):
        layers += fam.layers(template, cin, cout, kernel, stride, first_inplace=i > 0)
    first = next(i for i, layer in enumerate(layers) if isinstance(layer, (nn.Conv2d, nn.Linear)))
    if share_pre and first:
        return nn.Sequential(*layers[:first]), nn.Sequential(*layers[first:])
    return None, nn.Sequential(*layers)


def make_shortcut(design: BlockDesign, fam: Family, cin: int, cout: int, stride: int) -> nn.Module:
    """S: a 1x1 conv (shortcut_op=conv1x1); else the identity, where the shape changes a 1x1 projection (with a
    norm when the branch ends with one) or option A; then the dropout of shortcut_op=dropout."""
    opts = design.opts
    if opts.shortcut_op == "conv1x1":
        return fam.weight(cin, cout, 1, stride)
    if cin == cout and stride == 1:
        shortcut = nn.Identity()
    elif opts.shortcut == "projection":
        ends_with_norm = "n" in ORDERS[opts.order][1].rsplit("c", 1)[1]
        norm = fam.norm_layer(cout) if ends_with_norm else None
        shortcut = nn.Sequential(fam.weight(cin, cout, 1, stride), *([norm] if norm is not None else []))
    else:
        shortcut = ZeroPadShortcut(cout, stride)
    if opts.shortcut_op == "dropout":
        return nn.Sequential(shortcut, ShortcutDropout(opts.shortcut_dropout))
    return shortcut


def make_gate(design: BlockDesign, fam: Family, cin: int, cout: int, stride: int) -> nn.Sequential:
    """g(h) = sigmoid(1x1 conv(h) + b), b initialised to `gate_bias` (He et al. 2016; highway networks)."""
    layer = fam.weight(cin, cout, 1, stride, bias=True)
    nn.init.constant_(layer.bias, design.opts.gate_bias)
    return nn.Sequential(layer, nn.Sigmoid())


def make_block(design: BlockDesign, fam: Family, plan, drop_path: float = 0.0) -> ResidualBlock:
    """The block whose branch has the units of `plan` [(cin, cout, kernel, stride), ...]."""
    cin, cout, stride = plan[0][0], plan[-1][1], max(unit[3] for unit in plan)
    has_shortcut = design.merge != "none"
    pre, branch = make_branch(fam, design.opts.order, plan, has_shortcut and (cin != cout or stride != 1))
    post = fam.layers(ORDERS[design.opts.order][2], cout, cout)
    return ResidualBlock(
        branch, make_shortcut(design, fam, cin, cout, stride) if has_shortcut else None, design.merge,
        alpha=design.alpha, beta=design.beta, learn_beta=design.opts.learn_beta, pre=pre, post=nn.Sequential(*post),
        gate=make_gate(design, fam, cin, cout, stride) if design.merge.startswith("gate") else None,
        drop_path=drop_path)
