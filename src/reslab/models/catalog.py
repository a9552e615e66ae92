"""The block catalogue: every block type of `model.block`, declared once as data (how its branch and shortcut
merge, which stages hold it, which model options apply to it). Pure Python: the config validator reads it before
torch is loaded; the block maker is imported when a network is built.

A block type of your own registers its maker (docs/extending.md):

    @register_block("halfsum")
    def make(design: BlockDesign, fam: Family, plan, drop_path: float) -> nn.Module: ...
"""
from collections.abc import Callable
from dataclasses import dataclass

from reslab.catalog import Catalog


@dataclass(frozen=True)
class BlockType:
    name: str
    merge: str = "sum"  # sum | weighted | none: how F and S combine (shortcut_op may turn sum into scale or a gate)
    csp: bool = False  # stages are Cross Stage Partial stages holding blocks of this merge
    shortcut_designs: bool = True  # model.shortcut_op applies
    # (design, fam, plan, drop_path) -> nn.Module: one block whose branch has the units of `plan`
    make: str | Callable = "reslab.models.blocks:make_block"

    @property
    def has_shortcut(self) -> bool:
        return self.merge != "none"


BLOCKS: Catalog[BlockType] = Catalog("block type", "model.block")
for _block in (BlockType("plain"), BlockType("weighted", "weighted", shortcut_designs=False),
               BlockType("csp", csp=True), BlockType("noshortcut", "none", shortcut_designs=False)):
    BLOCKS.add(_block.name, _block)


def register_block(name: str, **spec) -> Callable:
    """Decorator: register the block maker it decorates as block type `name` (`spec`: other `BlockType` fields)."""
    def add(make: Callable) -> Callable:
        BLOCKS.add(name, BlockType(name, make=make, **{"shortcut_designs": False, **spec}))
        return make

    return add
