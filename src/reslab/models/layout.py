"""Depth rules, shared by every block type: the stages a depth makes and the words for the valid depths. Pure
Python: the config validator reads it before torch is loaded (and refuses a depth without a layout).

Conv networks (input (C, H, W)):
  - ImageNet stages, depth 18/34 (basic blocks) and 50/101/152 (bottleneck blocks): 4 stages, widths
    w, 2w, 4w, 8w (x4 for bottlenecks), default w = 64. These depths win over 6n+2 (50 and 152 are both).
  - CIFAR stages, depth 6n+2 (20, 32, 44, 56, 110, 1202, ...): 3 stages of n basic blocks, widths w, 2w, 4w,
    default w = 16. With `bottleneck=true`, depth 9n+2 (164, 1001, ...: He et al. 2016): 3 stages of n bottleneck
    blocks, widths 4w, 8w, 16w (64, 128, 256); the ImageNet depths keep their layout.
  The stem follows the input size, not the depth: images of at most 64x64 get the 3x3 stride-1 stem, larger ones
  the 7x7 stride-2 stem + max pool, unless `stem` says otherwise.
Residual MLP (input (F,)): depth 2n+2 counts linear layers like conv depth counts conv layers: an input layer,
  n blocks of two linear layers, the head. Constant width, default 64.
"""
from dataclasses import dataclass

from reslab.models.options import BLOCK_TYPES, OPTION_DEFAULTS  # noqa: F401 (re-exported)

IMAGENET_STAGES = {18: (False, (2, 2, 2, 2)), 34: (False, (3, 4, 6, 3)), 50: (True, (3, 4, 6, 3)),
                   101: (True, (3, 4, 23, 3)), 152: (True, (3, 8, 36, 3))}
SMALL_IMAGE = 64  # largest side that still gets the 3x3 stem
CONV_DEPTHS = "18, 34, 50, 101, 152 (ImageNet stages) or 6n+2 (20, 32, 44, 56, 110, 1202, ...: CIFAR stages)"
BOTTLENECK_DEPTHS = "50, 101, 152 (ImageNet stages) or 9n+2 (11, 20, 29, ..., 164, 1001: CIFAR bottleneck stages)"
MLP_DEPTHS = "2n+2 (4, 6, 8, ..., 20, ...: input layer, n blocks of two linear layers, head)"


@dataclass(frozen=True)
class Layout:
    """Residual blocks per stage; bottleneck blocks (1x1, 3x3, 1x1 with 4x expansion) or two-layer blocks."""

    blocks: tuple[int, ...]
    bottleneck: bool
    default_width: int

    @property
    def expansion(self) -> int:
        return 4 if self.bottleneck else 1


def conv_layout(depth: int, bottleneck: bool = False) -> Layout | None:
    if depth in IMAGENET_STAGES and IMAGENET_STAGES[depth][0] >= bottleneck:
        is_bottleneck, blocks = IMAGENET_STAGES[depth]
        return Layout(blocks, is_bottleneck, 64)
    if bottleneck:
        return Layout(((depth - 2) // 9,) * 3, True, 16) if depth >= 11 and (depth - 2) % 9 == 0 else None
    if depth >= 8 and (depth - 2) % 6 == 0:
        return Layout(((depth - 2) // 6,) * 3, False, 16)
    return None


def mlp_layout(depth: int) -> Layout | None:
    if depth >= 4 and depth % 2 == 0:
        return Layout(((depth - 2) // 2,), False, 64)
    return None


def conv_depths(bottleneck: bool) -> str:
    """The valid conv depths, in words."""
    return f"{BOTTLENECK_DEPTHS} with model.bottleneck=true" if bottleneck else CONV_DEPTHS


def model_layout(depth: int, input_shape, bottleneck: bool = False) -> Layout | None:
    """The layout for `depth` on inputs of `input_shape` ((C, H, W) conv, (F,) MLP), None if there is none.
    `bottleneck` asks conv networks for bottleneck blocks (MLPs ignore it)."""
    return mlp_layout(depth) if len(input_shape) == 1 else conv_layout(depth, bottleneck)


def stage_outputs(layout: Layout, width: int, conv: bool) -> list[int]:
    """Each stage's output channels (features): w, 2w, 4w, ... (x4 for bottlenecks); an MLP's one stage keeps w."""
    return [width * 2**i * layout.expansion for i in range(len(layout.blocks))] if conv else [width]


def csp_part(cout: int, split_ratio: float) -> int:
    """Channels through a CSP stage's blocks (the config layer refuses a ratio that leaves a part empty)."""
    return round(cout * split_ratio)


def stem_for(input_shape, stem: str) -> str:
    """"imagenet" (7x7 stride 2 + max pool) or "cifar" (3x3 stride 1) for an image of `input_shape`."""
    if stem != "auto":
        return stem
    return "cifar" if max(input_shape[1:]) <= SMALL_IMAGE else "imagenet"
