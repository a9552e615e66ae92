"""The rules of the `mechanisms` group's keys (conf/mechanisms/: the knobs of each instrument of
reslab.callbacks.Mechanisms), part of the one schema (reslab.config.schema.RULES). Each instrument is a mapping of
its knobs, or null (off)."""
from reslab.config.rules import Rule, boolean, integer, number

MECHANISMS = {
    **{f"callbacks.*.{name}": Rule(lambda v: hasattr(v, "items"), "a mapping of the instrument's knobs, or null (off)",
                                   optional=True) for name in ("signal", "shattered", "lesion", "path_length", "cka")},
    **{f"callbacks.*.{name}.samples": integer(4) for name in ("signal", "lesion", "cka")},
    "callbacks.*.shattered.points": integer(4),
    "callbacks.*.shattered.lines": integer(1),
    "callbacks.*.shattered.max_lag": integer(1),
    "callbacks.*.shattered.calibration": integer(2),
    "callbacks.*.lesion.draws": integer(1),
    "callbacks.*.lesion.reorder": boolean(),
    "callbacks.*.lesion.recalibrate_bn": boolean(),
    "callbacks.*.path_length.samples": integer(1),
    "callbacks.*.path_length.batch": integer(1),
    "callbacks.*.path_length.fraction": number(0, 1, low_open=True),
    "callbacks.*.cka.batch": integer(4),
    "callbacks.*.cka.threshold": number(0, 1),
}
