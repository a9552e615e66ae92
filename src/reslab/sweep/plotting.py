"""The conventions every figure of a sweep report follows, and the helpers that apply them (`reslab.sweep.figures`
and any figure a report section adds):

- a figure shows the seeds themselves: a mean (geometric for losses) with the seeds' range (min to max) as its band
  or bar (`error_bars`), and each seed as a thin line or a dot; the 95 % t-intervals are in the tables and
  curves.csv;
- one colour per variant in every figure (`series_colours`, from `reslab.sweep.palette`), the `noshortcut` baseline
  grey; depths told apart by `depth_marker`;
- axes fit the data (matplotlib's margins); one `legend` outside the axes, so nothing is drawn over;
- `save` writes the PNG atomically (an old one stays whole until the new one is) and returns its name for a
  `Figure(name, caption)`: the caption is one sentence saying how to read it.
"""
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from reslab.run_files import atomic_write  # noqa: E402
from reslab.sweep.jobs import Group, Sweep  # noqa: E402
from reslab.sweep.palette import sweep_palette  # noqa: E402

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")  # one per depth

__all__ = ["Figure", "MARKERS", "depth_marker", "error_bars", "legend", "plt", "save", "series_colours"]


@dataclass(frozen=True)
class Figure:
    """A PNG of the sweep folder (`name`) and its caption; `name` None: a note standing in for a figure that has
    nothing to show (the report prints the caption alone)."""

    name: str | None
    caption: str


def save(fig, sweep: Sweep, name: str) -> str:
    """Write `fig` as `name` in the sweep folder (atomically) and close it; returns the name."""
    atomic_write(sweep.folder / name, lambda file: fig.savefig(file, format="png", dpi=100))
    plt.close(fig)
    return name


def error_bars(means, lows, highs) -> list[list[float]]:
    """matplotlib's `yerr`/`xerr`: lengths below and above each mean (never negative: a geometric mean may round
    past a bound)."""
    return [[max(0.0, m - lo) for m, lo in zip(means, lows)], [max(0.0, hi - m) for m, hi in zip(means, highs)]]


def depth_marker(sweep: Sweep, depth: int) -> str:
    return MARKERS[sweep.depths.index(depth) % len(MARKERS)]


def series_colours(sweep: Sweep, groups: list[Group]) -> dict[str, str]:
    """{series label: colour} of these groups, in their order, with the colours of the whole sweep's palette."""
    colours = sweep_palette(sweep)
    return {label: colours[label] for label in dict.fromkeys(sweep.series(g) for g in groups)}


def legend(fig, sweep: Sweep, colours: dict[str, str], depths: bool = False, extra=()) -> None:
    """One legend outside the axes, on the right: a colour per series, a marker per depth when asked, `extra`."""
    handles = [Line2D([], [], color=colour, lw=2, label=label) for label, colour in colours.items()]
    if depths and len(sweep.depths) > 1:
        handles += [Line2D([], [], color="black", marker=depth_marker(sweep, d), ls="", label=f"depth {d}")
                    for d in sweep.depths]
    handles += list(extra)
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
