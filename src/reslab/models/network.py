"""`build_model(block, depth, width, input_shape, num_classes, **options)`: a conv network for (C, H, W) inputs,
a residual MLP for (F,) inputs; the depth rules are in `reslab.models.layout`, the options in
`reslab.models.options`, the block types in `reslab.models.catalog`, the block in `reslab.models.blocks`. The
values are checked by the config layer (`reslab.config.check_model`) before anything is built."""
import itertools

from torch import nn

from reslab.catalog import resolve
from reslab.models.blocks import BlockDesign
from reslab.models.catalog import BLOCKS
from reslab.models.init import initialise
from reslab.models.layers import Family, ScalarBias
from reslab.models.layout import model_layout, stage_outputs, stem_for
from reslab.models.options import ORDERS, ModelOptions
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


# A branch as units (cin, cout, kernel, stride): basic (3x3, 3x3), bottleneck (1x1, 3x3, 1x1; stride on the 3x3
# as torchvision's ResNet v1.5) and MLP (linear, linear).
def basic_plan(cin, mid, cout, stride):
    return [(cin, mid, 3, stride), (mid, cout, 3, 1)]


def bottleneck_plan(cin, mid, cout, stride):
    return [(cin, mid, 1, 1), (mid, mid, 3, stride), (mid, cout, 1, 1)]


def mlp_plan(fin, mid, fout, stride):
    return [(fin, mid, 1, 1), (mid, fout, 1, 1)]


def unit_maker(fam: Family):
    """unit(cin, cout, kernel, stride) -> conv + norm + ReLU (Fixup: + scalar bias before the ReLU): the stem and
    the CSP stage's own units."""

    def unit(cin, cout, kernel, stride=1, template="cnr"):
        return fam.layers(template.replace("r", "ar") if fam.fixup else template, cin, cout, kernel, stride)

    return unit


def _stem(fam: Family, order: str, cin: int, cout: int, kernel: int, stride: int) -> list[nn.Module]:
    """The conv followed by what follows it in the order's unit (BN-ReLU originally, nothing in pre-activation)."""
    return unit_maker(fam)(cin, cout, kernel, stride, template="c" + ORDERS[order][0].split("c", 1)[1])


def _head(fam: Family, order: str, cin: int, num_classes: int) -> nn.Module:
    """What precedes the conv in the order's unit (pre-activation: the final BN-ReLU), pooling, the classifier."""
    layers = fam.layers(ORDERS[order][0].split("c", 1)[0], cin, cin, first_inplace=False)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()] if fam.conv else []
    layers += [ScalarBias()] if fam.fixup else []
    linear = nn.Linear(cin, num_classes)
    return nn.Sequential(*layers, linear) if layers else linear


def _stages(block, design, fam, plan, layout, channels) -> list[nn.Module]:
    """One stage per (cin, mid, cout, stride) of `channels` (CSP stages hold blocks of their type's merge); block
    i of L drops its branch with drop_path * i / L (stochastic depth's linear decay)."""
    count, total, make_block = itertools.count(1), sum(layout.blocks), resolve(block.make)

    def make(cin, mid, cout, stride):
        return make_block(design, fam, plan(cin, mid, cout, stride), design.opts.drop_path * next(count) / total)

    stages = []
    for n, (cin, mid, cout, stride) in zip(layout.blocks, channels):
        if block.csp:
            stages.append(csp_stage(unit_maker(fam), make, cin, mid, cout, stride, n, design.opts.split_ratio))
        else:
            stages.append(residual_stage(make, cin, mid, cout, stride, n))
    return stages


def build_model(block: str, depth: int, width: int | None, input_shape, num_classes: int, module: str | None = None,
                **options) -> ResidualNet:
    """Block type `block` (plain | weighted | csp | noshortcut, or one `module` registers) at `depth` with `width`
    channels (features) in the first stage, None for the layout default; `options` are the keys of
    conf/model/plain.yaml (`ModelOptions`)."""
    input_shape, opts, kind = tuple(input_shape), ModelOptions(**options), BLOCKS.get(block, module)
    layout = model_layout(depth, input_shape, opts.bottleneck)
    if layout is None:
        raise ValueError(f"depth={depth} has no layout for inputs {input_shape} (reslab.config.check_model says why)")
    width = width or layout.default_width
    design, conv = BlockDesign.of(kind, opts), len(input_shape) == 3
    fam = Family(conv, opts.norm if conv else opts.mlp_norm, fixup=opts.init == "fixup",
                 dropout=0.0 if conv else opts.dropout)
    order, outs = opts.order, stage_outputs(layout, width, conv)
    if conv:
        if stem_for(input_shape, opts.stem) == "imagenet":
            stem = [*_stem(fam, order, input_shape[0], width, 7, 2), nn.MaxPool2d(3, 2, 1)]
        else:
            stem = _stem(fam, order, input_shape[0], width, 3, 1)
        mids = [cout // layout.expansion for cout in outs]
        channels = [(cin, mid, cout, 1 if i == 0 else 2) for i, (cin, mid, cout) in
                    enumerate(zip([width, *outs], mids, outs))]
        plan = bottleneck_plan if layout.bottleneck else basic_plan
    else:
        stem = _stem(fam, order, input_shape[0], width, 1, 1)
        channels, plan = [(width, width, width, 1)], mlp_plan
    stages = _stages(kind, design, fam, plan, layout, channels)
    model = ResidualNet(nn.Sequential(*stem), stages, _head(fam, order, outs[-1], num_classes), outs)
    initialise(model, opts.init, opts.zero_init_residual)
    return model
