"""Every model option, its default and its valid values. Pure Python: the config validator imports this (through
`reslab.models.layout`) before torch is loaded.

The shortcut designs of the literature are values of these options, not classes: `shortcut_op` says what the
shortcut computes (He et al. 2016, Table 1), `order` where BN and ReLU sit in the block (He et al. 2016, Fig. 4),
`norm` and `init` make a network normalisation-free (Fixup, SkipInit) or start it at the identity (Dirac), and
`drop_path` is stochastic depth. conf/model/plain.yaml holds the same keys and defaults (a test checks it).
"""
import math
from dataclasses import asdict, dataclass

from reslab.errors import ConfigError

BLOCK_TYPES = ("plain", "weighted", "csp", "noshortcut")
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
    """The model options and their defaults (the model API's defaults; conf/model/plain.yaml documents each)."""

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


def _choice(key: str, value, choices) -> None:
    if isinstance(value, bool) or value not in choices:
        raise ConfigError(f"model.{key}={value!r} is invalid: choose one of {', '.join(choices)}")


def _number(key: str, value, ok, expected: str) -> None:
    """A real, finite number for which `ok` holds (NaN and inf are refused)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not ok(value)):
        raise ConfigError(f"model.{key}={value!r} is invalid: expected {expected}")


def _flag(key: str, value) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"model.{key}={value!r} is invalid: choose one of true, false")


def complete_options(options: dict) -> dict:
    """`options` with every missing option at its default; ConfigError for an unknown option name."""
    unknown = sorted(set(options) - set(OPTION_DEFAULTS))
    if unknown:
        raise ConfigError(f"model.{unknown[0]} is not a model option: choose from {', '.join(OPTION_DEFAULTS)}")
    return {**OPTION_DEFAULTS, **options}


def check_options(block: str, options: dict) -> dict:
    """Every option's value, and the combinations with `block`; returns the completed options."""
    _choice("block", block, BLOCK_TYPES)
    opts = complete_options(options)
    _choice("shortcut", opts["shortcut"], SHORTCUTS)
    _choice("stem", opts["stem"], STEMS)
    _choice("mlp_norm", opts["mlp_norm"], MLP_NORMS)
    _choice("shortcut_op", opts["shortcut_op"], SHORTCUT_OPS)
    _choice("order", opts["order"], tuple(ORDERS))
    _choice("norm", opts["norm"], NORMS)
    _choice("init", opts["init"], INITS)
    _number("split_ratio", opts["split_ratio"], lambda v: 0 < v < 1, "a number in (0, 1)")
    for key in ("dropout", "shortcut_dropout", "drop_path"):
        _number(key, opts[key], lambda v: 0 <= v < 1, "a number in [0, 1)")
    for key in ("alpha_init", "beta_init", "shortcut_scale", "branch_scale", "gate_bias"):
        _number(key, opts[key], lambda v: True, "a finite number")
    for key in ("zero_init_residual", "learn_beta", "bottleneck"):
        _flag(key, opts[key])
    if block == "noshortcut" and opts["drop_path"] > 0:
        raise ConfigError(f"model.drop_path={opts['drop_path']!r} is invalid for block=noshortcut: stochastic depth "
                          f"drops residual branches and needs a shortcut; use 0.0 or a block type with shortcuts")
    if block == "noshortcut" and opts["init"] == "fixup":
        raise ConfigError("model.init='fixup' is invalid for block=noshortcut: Fixup starts every branch at zero and "
                          "needs a shortcut; use kaiming or dirac")
    if opts["shortcut_op"] != "identity" and block not in ("plain", "csp"):
        raise ConfigError(f"model.shortcut_op={opts['shortcut_op']!r} is invalid for block={block}: "
                          f"shortcut designs apply to block=plain or csp; use shortcut_op=identity")
    return opts
