"""Recipe (docs/extending.md): a block type of your own in one module. relu(F(x) / 2 + S(x)): the plain block
with its branch halved; `conf/model/halfsum.yaml` selects it."""
from torch import nn

from reslab.models.blocks import BlockDesign, ResidualBlock, make_branch, make_shortcut
from reslab.models.catalog import register_block
from reslab.models.layers import Family


@register_block("halfsum")
def make(design: BlockDesign, fam: Family, plan, drop_path: float) -> nn.Module:
    """The block whose branch has the units of `plan` [(cin, cout, kernel, stride), ...]."""
    cin, cout, stride = plan[0][0], plan[-1][1], max(unit[3] for unit in plan)
    _, branch = make_branch(fam, design.opts.order, plan, share_pre=False)
    return ResidualBlock(branch, make_shortcut(design, fam, cin, cout, stride), "scale", alpha=0.5, beta=1.0)
