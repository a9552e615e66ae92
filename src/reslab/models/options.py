"""Every model option and its default (`ModelOptions`, declared once), and the values each choice can take: what the
builder implements. Pure Python: the config layer reads it before torch is loaded and holds the rules
(reslab.config.schema, `model.*`).

The shortcut designs of the literature are values of these options, not classes: `shortcut_op` says what the
shortcut computes (He et al. 2016, Table 1), `order` where BN and ReLU sit in the block (He et al. 2016, Fig. 4),
`norm` and `init` make a network normalisation-free (Fixup, SkipInit) or start it at the identity (Dirac), and
`drop_path` is stochastic depth. conf/model/plain.yaml holds the same keys and defaults (a test checks it).
"""
from dataclasses import asdict, dataclass

from reslab.models.catalog import BLOCKS

BLOCK_TYPES = tuple(BLOCKS)  # reslab's own (see reslab.models.catalog)
SHORTCUTS = ("projection", "zeropad")
SHORTCUT_OPS = ("identity", "scale", "gate_exclusive", "gate_shortcut", "conv1x1", "dropout")
STEMS = ("auto", "imagenet", "cifar")
MLP_NORMS = ("batch", "layer", "none")
NORMS = ("batch", "group", "none")
INITS = ("kaiming", "dirac", "fixup")

# Where BN and ReLU sit (He et al. 2016, Fig. 4): (each unit but the last, the branch's last unit, after the
# addition). A unit is one conv (linear for MLPs) "c" with its norm "n" and ReLU "r". The stem is a unit with the
# ops that follow "c"; the head starts with the ops that precede it (pre-activation nets end with BN-ReLU).
ORDERS = {
    "post": ("cnr", "cn", "r"),              # original: conv-BN-ReLU-conv-BN, add, ReLU
    "bn_after_add": ("cnr", "c", "nr"),      # conv-BN-ReLU-conv, add, BN-ReLU
    "relu_before_add": ("cnr", "cnr", ""),   # conv-BN-ReLU-conv-BN-ReLU, add
    "relu_preact": ("rcn", "rcn", ""),       # ReLU-conv-BN-ReLU-conv-BN, add
    "preact": ("nrc", "nrc", ""),            # full pre-activation: BN-ReLU-conv-BN-ReLU-conv, add
}


@dataclass(frozen=True)
class ModelOptions:
    """The model options and their defaults (the model API's defaults; conf/model/plain.yaml documents each, a
    test keeps the two equal). `build_model` takes them as keyword arguments."""

    shortcut: str = "projection"
    stem: str = "auto"
    zero_init_residual: bool = False
    alpha_init: float = 1.0
    beta_init: float = 1.0
    learn_beta: bool = True
    split_ratio: float = 0.5
    mlp_norm: str = "batch"
    dropout: float = 0.0
    shortcut_op: str = "identity"
    shortcut_scale: float = 0.5
    branch_scale: float = 1.0
    gate_bias: float = -6.0
    shortcut_dropout: float = 0.5
    order: str = "post"
    norm: str = "batch"
    init: str = "kaiming"
    drop_path: float = 0.0
    bottleneck: bool = False


OPTION_DEFAULTS = asdict(ModelOptions())
