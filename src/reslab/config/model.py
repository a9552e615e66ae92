"""`check_model(...)`: the model's keys (depth, width, model.*) against their rules (schema.MODEL), the depth
against the layouts, and the combinations a block type refuses; one line naming the value and the valid choices.

What the model builds is decided by reslab.models (its block catalogue, options and depth layouts); which values
are valid is decided here, once, before torch is loaded. `build_model` trusts its arguments.
"""
from reslab.config.rules import check, entry
from reslab.config.schema import MODEL
from reslab.errors import ConfigError
from reslab.models.catalog import BLOCKS
from reslab.models.layout import MLP_DEPTHS, Layout, conv_depths, conv_layout, csp_part, mlp_layout, stage_outputs
from reslab.models.options import OPTION_DEFAULTS


def check_model(block, depth, width, input_shape=None, num_classes=None, module=None, vector: bool | None = None,
                **options) -> dict[bool, Layout]:
    """Raise ConfigError for the first bad model argument. The network family comes from `input_shape` ((C, H, W)
    conv, (F,) MLP) or `vector`; without either the depth has to suit one of them. Returns {is MLP: layout} of the
    families the depth suits."""
    kind = entry(BLOCKS, block, module)
    unknown = sorted(set(options) - set(OPTION_DEFAULTS))
    if unknown:
        raise ConfigError(f"model.{unknown[0]} is not a model option: choose from {', '.join(OPTION_DEFAULTS)}")
    opts = {**OPTION_DEFAULTS, **options}
    for key, value in (("depth", depth), ("width", width), *((f"model.{k}", v) for k, v in opts.items())):
        check(key, value, MODEL[key])
    if input_shape is not None:
        if len(input_shape) not in (1, 3):
            raise ConfigError(f"input_shape={tuple(input_shape)!r} is invalid: expected (C, H, W) or (F,)")
        vector = len(input_shape) == 1
    layouts = _layouts(depth, opts["bottleneck"], vector)
    _check_combinations(kind, opts)
    if kind.csp and vector is not None:
        _check_csp_parts(layouts[vector], width, not vector, opts["split_ratio"])
    return layouts


def _layouts(depth: int, bottleneck: bool, vector: bool | None) -> dict[bool, Layout]:
    families = (False, True) if vector is None else (vector,)
    found = {mlp: mlp_layout(depth) if mlp else conv_layout(depth, bottleneck) for mlp in families}
    found = {mlp: layout for mlp, layout in found.items() if layout is not None}
    if not found and vector is None:
        raise ConfigError(f"depth={depth!r} is invalid: valid depths are conv {conv_depths(bottleneck)}; "
                          f"MLP {MLP_DEPTHS}")
    if not found:
        raise ConfigError(f"depth={depth!r} is invalid for {'an MLP' if vector else 'a conv network'}: "
                          f"valid depths are {MLP_DEPTHS if vector else conv_depths(bottleneck)}")
    return found


def _check_combinations(kind, opts: dict) -> None:
    if not kind.has_shortcut and opts["drop_path"] > 0:
        raise ConfigError(f"model.drop_path={opts['drop_path']!r} is invalid for block={kind.name}: stochastic depth "
                          f"drops residual branches and needs a shortcut; use 0.0 or a block type with shortcuts")
    if not kind.has_shortcut and opts["init"] == "fixup":
        raise ConfigError(f"model.init='fixup' is invalid for block={kind.name}: Fixup starts every branch at zero "
                          f"and needs a shortcut; use kaiming or dirac")
    if opts["shortcut_op"] != "identity" and not kind.shortcut_designs:
        designed = " or ".join(name for name, spec in BLOCKS.items() if spec.shortcut_designs)
        raise ConfigError(f"model.shortcut_op={opts['shortcut_op']!r} is invalid for block={kind.name}: "
                          f"shortcut designs apply to block={designed}; use shortcut_op=identity")


def _check_csp_parts(layout: Layout, width: int | None, conv: bool, split_ratio: float) -> None:
    for cout in stage_outputs(layout, width or layout.default_width, conv):
        if not 0 < csp_part(cout, split_ratio) < cout:
            raise ConfigError(f"model.split_ratio={split_ratio!r} leaves an empty part of {cout} channels: "
                              f"use a larger width or a ratio nearer 0.5")


def check_anchor_sizes(anchor_sizes, layout: Layout) -> None:
    """task=detection: one anchor size per pyramid level (one level per stage, plus the pooled top)."""
    levels = len(layout.blocks) + 1
    if anchor_sizes != "auto" and len(anchor_sizes) != levels:
        raise ConfigError(f"task.anchor_sizes={list(anchor_sizes)} is invalid: this backbone has {levels} pyramid "
                          f"levels, give one size per level or auto")
