"""One colour per variant across every figure of a sweep report, the baseline always the same neutral grey.

`palette(names, baselines)` -> {name: "#rrggbb"}: the names in the order given (the sweep's order of its variants)
take the colours of `COLOURS` in turn; a name in `baselines` (`noshortcut` by default) is `BASELINE_COLOUR`. Twelve
colours that stay apart from each other and from the grey (matplotlib's tab10 without its grey, then three darker
ones); past twelve they repeat. `sweep_palette(sweep)` is the palette of a sweep's series (its swept keys but the
depth and the seed), which every figure of `reslab.sweep.figures` uses: a variant has one colour in all of them.
"""
from reslab.sweep.jobs import BASELINE, Sweep

BASELINE_COLOUR = "#8c8c8c"
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
           "#000000", "#0a2e7a", "#7a5a00")


def palette(names, baselines=(BASELINE,)) -> dict[str, str]:
    """{name: colour}: `baselines` grey, the others the colours of COLOURS in the order given (duplicates once)."""
    out, others = {}, 0
    for name in dict.fromkeys(names):
        if name in baselines:
            out[name] = BASELINE_COLOUR
        else:
            out[name] = COLOURS[others % len(COLOURS)]
            others += 1
    return out


def sweep_palette(sweep: Sweep) -> dict[str, str]:
    """{series label: colour} for every setting of the sweep, the series whose variant is the baseline in grey."""
    labels = {sweep.series(group): sweep.variant(group) for group in sweep.groups}
    return palette(labels, baselines={label for label, variant in labels.items() if variant == BASELINE})
