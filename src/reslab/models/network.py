"""`build_model(block, depth, width, input_shape, num_classes, **options)`: a conv network for (C, H, W) inputs,
a residual MLP for (F,) inputs; the depth rules are in `reslab.models.layout`."""
from torch import nn

from reslab.models.blocks import (ResidualBlock, basic_branch, bottleneck_branch, conv_unit, linear_unit,
                                  make_shortcut, mlp_branch)
from reslab.models.layout import OPTION_DEFAULTS, check_model_args, model_layout, stem_for
from reslab.models.stages import csp_stage, residual_stage


class ResidualNet(nn.Module):
    """stem -> stages -> head. `stage_channels[i]` is the channel (feature) count of stage i's output."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module], head: nn.Module, stage_channels: list[int]):
        super().__init__()
        self.stem, self.stages, self.head = stem, nn.ModuleList(stages), head
        self.stage_channels = stage_channels

    def forward_stages(self, x):
        """Every stage's output, first to last (what a detection FPN reads)."""
        outputs = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def forward(self, x):
        return self.head(self.forward_stages(x)[-1])


def _block_maker(block: str, branch, opts: dict):
    """make(cin, mid, cout, stride) -> ResidualBlock with `branch` as F and the shortcut/merge of `block`
    (CSP stages hold plain residual blocks)."""

    def make(cin, mid, cout, stride):
        shortcut = None if block == "noshortcut" else make_shortcut(opts["shortcut"], cin, cout, stride)
        weights = dict(alpha_init=opts["alpha_init"], beta_init=opts["beta_init"], learn_beta=opts["learn_beta"])
        return ResidualBlock(branch(cin, mid, cout, stride), shortcut, **(weights if block == "weighted" else {}))

    return make


def _stage(block: str, unit, branch, opts: dict, cin: int, mid: int, cout: int, stride: int, n: int):
    if block == "csp":
        return csp_stage(unit, _block_maker("plain", branch, opts), cin, mid, cout, stride, n, opts["split_ratio"])
    return residual_stage(_block_maker(block, branch, opts), cin, mid, cout, stride, n)


def _conv_net(block, layout, width, input_shape, num_classes, opts) -> ResidualNet:
    if stem_for(input_shape, opts["stem"]) == "imagenet":
        stem = nn.Sequential(*conv_unit(input_shape[0], width, 7, 2), nn.MaxPool2d(3, 2, 1))
    else:
        stem = nn.Sequential(*conv_unit(input_shape[0], width, 3))
    branch = bottleneck_branch if layout.bottleneck else basic_branch
    stages, channels, cin = [], [], width
    for i, n in enumerate(layout.blocks):
        mid = width * 2**i
        cout = mid * layout.expansion
        stages.append(_stage(block, conv_unit, branch, opts, cin, mid, cout, 1 if i == 0 else 2, n))
        channels.append(cout)
        cin = cout
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))
    return ResidualNet(stem, stages, head, channels)


def _mlp(block, layout, width, input_shape, num_classes, opts) -> ResidualNet:
    norm = opts["mlp_norm"]

    def unit(fin, fout, kernel, stride=1):
        return linear_unit(fin, fout, norm)

    def branch(fin, mid, fout, stride):
        return mlp_branch(fin, mid, fout, norm, opts["dropout"])

    stage = _stage(block, unit, branch, opts, width, width, width, 1, layout.blocks[0])
    return ResidualNet(nn.Sequential(*linear_unit(input_shape[0], width, norm)), [stage],
                       nn.Linear(width, num_classes), [width])


def build_model(block: str, depth: int, width: int | None, input_shape, num_classes: int,
                **options) -> ResidualNet:
    """Block type `block` (plain | weighted | csp | noshortcut) at `depth` with `width` channels (features) in
    the first stage, None for the layout default; `options` are the keys of conf/model/plain.yaml."""
    input_shape = tuple(input_shape)
    check_model_args(block, depth, width, input_shape, **options)
    opts = {**OPTION_DEFAULTS, **options}
    layout = model_layout(depth, input_shape)
    build = _mlp if len(input_shape) == 1 else _conv_net
    model = build(block, layout, width or layout.default_width, input_shape, num_classes, opts)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if opts["zero_init_residual"] and isinstance(m, ResidualBlock):
            last = [layer for layer in m.branch if getattr(layer, "weight", None) is not None][-1]
            nn.init.zeros_(last.weight)
    return model
