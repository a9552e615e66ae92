"""The sweep's figures (PNG), each skipped when its data is absent (e.g. gradient flow with `diagnostics=off`):
results against depth, seed-averaged curves per depth, the cost frontier, gradient flow per depth, WRC scalars."""
import math
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from reslab.sweep.curves import LOSS, curve, has_time  # noqa: E402
from reslab.sweep.frontier import frontier  # noqa: E402
from reslab.sweep.jobs import FINISHED, Group, Sweep  # noqa: E402

COLOURS = {"plain": "Blues", "weighted": "Greens", "csp": "Purples", "noshortcut": "Reds"}
OTHER_COLOURS = ("Oranges", "Greys", "YlOrBr", "BuGn", "PuRd", "GnBu")


def write_figures(sweep: Sweep) -> list[str]:
    """Draw every figure the data allows into the sweep folder; returns the file names."""
    names = [_depth(sweep), *_curves(sweep), _frontier(sweep), *_gradient_flow(sweep), _wrc(sweep)]
    return [name for name in names if name]


def _shade(sweep: Sweep, group: Group) -> float:
    """0 for the shallowest depth of the sweep, 1 for the deepest."""
    return sweep.depths.index(group.depth) / max(1, len(sweep.depths) - 1)


def _colour(sweep: Sweep, group: Group, shade: float = 0.75):
    """One colour map per series (variant); `shade` in [0, 1] darkens it (deeper nets are drawn darker)."""
    labels = list(dict.fromkeys(sweep.series(g) for g in sweep.groups))
    other = OTHER_COLOURS[labels.index(sweep.series(group)) % len(OTHER_COLOURS)]
    name = COLOURS.get(sweep.variant(group) or "") or other
    return plt.get_cmap(name)(0.35 + 0.6 * shade)


def _save(fig, sweep: Sweep, name: str) -> str:
    fig.tight_layout()
    fig.savefig(sweep.folder / name, dpi=110)
    plt.close(fig)
    return name


def _depth(sweep: Sweep) -> str | None:
    """Test metric and final training loss against depth, one line per series, error bars = seed std."""
    if not any(group.finished for group in sweep.groups):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = ((sweep.test_key, f"{sweep.test_key} (best checkpoint)", "linear"), (LOSS, "final training loss", "log"))
    series: dict[str, list[Group]] = {}
    for group in sweep.groups:
        series.setdefault(sweep.series(group), []).append(group)
    for ax, (key, title, scale) in zip(axes, panels):
        for label, groups in series.items():
            points = sorted((g.depth, g.values(key)) for g in groups if g.values(key))
            if not points:
                continue
            colour = _colour(sweep, groups[0])
            means = [statistics.fmean(v) for _, v in points]
            spread = [statistics.stdev(v) if len(v) > 1 else 0.0 for _, v in points]
            ax.errorbar([x for x, _ in points], means, yerr=spread, marker="o", capsize=3, label=label, color=colour)
            for x, values in points:
                ax.scatter([x] * len(values), values, s=8, color=colour, alpha=0.5)
        ax.set(xlabel="depth", title=title, yscale=scale, xticks=sweep.depths)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, sweep, "depth.png")


def _band(ax, xs, points, colour, label, dodge: float = 0.0) -> None:
    """Mean line with its band; a single point (one epoch) as a point with an error bar, moved sideways by `dodge`
    (a fraction of x) so that settings at the same x stay apart."""
    means, lows, highs = ([getattr(p, k) for p in points] for k in ("mean", "low", "high"))
    if len(xs) == 1:
        xs = [xs[0] * (1 + dodge)]
    ax.plot(xs, means, marker="o", ms=3, lw=1.4, color=colour, label=label)
    ax.fill_between(xs, [lo if math.isfinite(lo) else m for lo, m in zip(lows, means)],
                    [hi if math.isfinite(hi) else m for hi, m in zip(highs, means)], color=colour, alpha=0.2, lw=0)
    if len(xs) == 1 and math.isfinite(lows[0]):  # one epoch: the band is an error bar
        ax.errorbar(xs, means, yerr=[[means[0] - lows[0]], [highs[0] - means[0]]], color=colour, capsize=4)


def _curves(sweep: Sweep) -> list[str]:
    """One figure per depth: training loss (log axis, geometric mean) and validation metric per epoch, mean over
    seeds with the 95 % t-band, a colour per variant; a second row against seconds when the history has them."""
    timed, names = has_time(sweep), []
    for depth in sweep.depths:
        groups = [g for g in sweep.groups if g.depth == depth and g.finished]
        lines = [(g, curve(g, LOSS), curve(g, sweep.monitor)) for g in groups]
        lines = [line for line in lines if line[1] or line[2]]
        if not lines:
            continue
        rows = 2 if timed else 1
        fig, axes = plt.subplots(rows, 2, figsize=(11, 4.2 * rows), squeeze=False)
        for i, (group, loss, metric) in enumerate(lines):
            colour, label = _colour(sweep, group), sweep.series(group)
            dodge = 0.02 * (i - (len(lines) - 1) / 2)
            for row, x in enumerate(("epoch", "seconds")[:rows]):
                for ax, points in zip(axes[row], (loss, metric)):
                    points = [p for p in points if math.isfinite(getattr(p, x))]
                    if points:
                        _band(ax, [getattr(p, x) for p in points], points, colour, label, dodge if row == 0 else 0.0)
        for row, x in enumerate(("epoch", "wall-clock seconds (mean over seeds)")[:rows]):
            if row == 0:
                epochs = sorted({p.epoch for _, loss, metric in lines for p in (*loss, *metric)})
                for ax in axes[0]:
                    ax.xaxis.get_major_locator().set_params(integer=True)
                    if len(epochs) <= 12:
                        ax.set_xticks(epochs)
            axes[row][0].set(xlabel=x, ylabel="training loss", yscale="log")
            axes[row][1].set(xlabel=x, ylabel=sweep.monitor)
            for ax in axes[row]:
                ax.grid(alpha=0.3)
        axes[0][0].set_title(f"training loss, depth {depth} (mean over seeds, 95 % band)")
        axes[0][1].set_title(f"{sweep.monitor}, depth {depth} (mean over seeds, 95 % band)")
        axes[0][1].legend(fontsize=8)
        names.append(_save(fig, sweep, f"curves_depth{depth}.png"))
    return names


def _frontier(sweep: Sweep) -> str | None:
    """Test metric against params, FLOPs and throughput: a point per setting with its 95 % interval, the
    Pareto-optimal settings ringed and joined."""
    front = frontier(sweep)
    if not front:
        return None
    fig, axes = plt.subplots(1, len(front), figsize=(5.2 * len(front), 4.4), squeeze=False)
    for ax, (key, (title, lower, points, best)) in zip(axes[0], front.items()):
        for i, p in enumerate(points):
            yerr = [[p.metric - p.low], [p.high - p.metric]] if math.isfinite(p.low) else None
            xerr = [[p.cost - p.cost_low], [p.cost_high - p.cost]] if math.isfinite(p.cost_low) else None
            ax.errorbar([p.cost], [p.metric], yerr=yerr, xerr=xerr, marker="o", capsize=3,
                        color=_colour(sweep, p.group, _shade(sweep, p.group)))
            if i in best:
                ax.scatter([p.cost], [p.metric], s=140, facecolors="none", edgecolors="black", lw=1.3)
            ax.annotate(" ".join(p.group.key) or "all", (p.cost, p.metric), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
        optimal = sorted((points[i].cost, points[i].metric) for i in best)
        ax.plot(*zip(*optimal), color="black", lw=0.8, ls="--", label="Pareto-optimal")
        scale = "log" if max(p.cost for p in points) > 10 * min(p.cost for p in points) else "linear"
        better = "fewer is better" if lower else "more is better"
        ax.set(xlabel=f"{title} ({better})", ylabel=sweep.test_key, xscale=scale, title=f"{sweep.test_key} vs {title}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, sweep, "frontier.png")


def _per_block(group: Group, key: str, geometric: bool = False) -> list[float] | None:
    """Element-wise mean over the group's finished seeds of a per-block list; geometric for gradient norms,
    which span decades. None when absent or when the seeds disagree on the block count."""
    lists = [job.metrics[key] for job in group.jobs if job.status == FINISHED and job.metrics.get(key)]
    if not lists or len({len(values) for values in lists}) != 1:
        return None
    if geometric:
        return [math.exp(statistics.fmean(math.log(max(v, 1e-30)) for v in column)) for column in zip(*lists)]
    return [statistics.fmean(column) for column in zip(*lists)]


def _gradient_flow(sweep: Sweep) -> list[str]:
    """One figure per depth: per-block gradient norm at the first logged step, a line per variant. Blocks are
    numbered 0..n-1 from the input, as in a run's own grad_flow.png."""
    names = []
    for depth in sweep.depths:
        groups = [g for g in sweep.groups if g.depth == depth]
        lines = [(g, values) for g in groups if (values := _per_block(g, "grad/first_step", geometric=True))]
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for group, values in lines:
            ax.plot(range(len(values)), values, marker=".", label=sweep.series(group), color=_colour(sweep, group))
        ax.set(xlabel="block (0 = input side)", ylabel="gradient norm of the block's parameters", yscale="log",
               title=f"gradient flow at the first step, depth {depth} (geometric mean over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        names.append(_save(fig, sweep, f"grad_flow_depth{depth}.png"))
    return names


def _wrc(sweep: Sweep) -> str | None:
    """Final WRC alpha (branch) and beta (shortcut) per block, a line per weighted group (mean over seeds)."""
    lines = [(g, _per_block(g, "wrc/alpha"), _per_block(g, "wrc/beta")) for g in sweep.groups]
    lines = [line for line in lines if line[1]]
    if not lines:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for group, alpha, beta in lines:
        for ax, values in zip(axes, (alpha, beta)):
            if values:
                ax.plot(range(len(values)), values, marker=".", label=sweep.label(group),
                        color=_colour(sweep, group, _shade(sweep, group)))
    for ax, name in zip(axes, ("alpha (branch scale)", "beta (shortcut scale)")):
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set(xlabel="block (0 = input side)", title=f"final WRC {name}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, sweep, "wrc.png")
