"""The sweep's figures (PNG), each with a one-sentence caption, each skipped when its data is absent (e.g. gradient
flow with `diagnostics=off`) and replaced when it would have nothing to show (one depth: the results per variant
instead of a depth axis; every setting at the same cost: a line saying so instead of a frontier). They follow the
conventions of `reslab.sweep.plotting` (the seeds' range as bands and bars, one colour per variant).
"""
import math

from matplotlib.lines import Line2D

from reslab.sweep.curves import FRACTION, LOSS, curve, has_time, seed_curves
from reslab.sweep.frontier import frontier, same_cost
from reslab.sweep.jobs import FINISHED, Group, Sweep
from reslab.sweep.plotting import Figure, depth_marker, error_bars, legend, plt, save, series_colours
from reslab.sweep.stats import spread
from reslab.sweep.tables import compact

SEED_LINES = 5  # at most this many seeds: each seed's curve is drawn as a thin line too
BAND = "band: the seeds' range (min to max)"

__all__ = ["Figure", "curves", "frontier_figure", "gradient_flow", "results", "save", "wrc"]


def _finished(sweep: Sweep) -> list[Group]:
    return [group for group in sweep.groups if group.finished]


def results(sweep: Sweep) -> list[Figure]:
    """depth.png (several depths: test metric and final loss against depth, a line per series) or results.png (one
    depth: the same two quantities per series, each seed a dot)."""
    groups = _finished(sweep)
    if not groups:
        return []
    several = len({g.depth for g in groups}) > 1
    colours = series_colours(sweep, groups)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    panels = ((sweep.test_key, f"{sweep.test_key} (best checkpoint)", False), (LOSS, "final training loss", True))
    for ax, (key, title, log) in zip(axes, panels):
        for index, label in enumerate(colours):
            mine = [g for g in groups if sweep.series(g) == label and g.values(key)]
            if several:
                _against_depth(ax, sweep, mine, key, log, colours[label])
            else:
                _one_position(ax, index, mine, key, log, colours[label])
        ax.set(title=title, yscale="log" if log else "linear")
        ax.grid(alpha=0.3)
        if several:
            ax.set(xlabel="depth", xticks=sweep.depths)
        else:
            ax.set_xticks(range(len(colours)), list(colours), rotation=30, ha="right", fontsize=8)
            ax.set_xlim(-0.6, len(colours) - 0.4)
    legend(fig, sweep, colours, extra=[Line2D([], [], color="grey", marker="_", ms=12, ls="",
                                               label="mean; bar: the seeds' range"),
                                        Line2D([], [], color="grey", marker="o", ms=3, ls="", alpha=0.6,
                                               label="one seed")])
    if several:
        return [Figure(save(fig, sweep, "depth.png"), f"{sweep.test_key} and final training loss against depth: "
                       "a line per variant through the means over seeds, bars from the lowest to the highest seed, "
                       "a dot per seed; higher is better on the left, lower on the right (log axis).")]
    depth = groups[0].depth
    return [Figure(save(fig, sweep, "results.png"), f"One depth ({depth}): {sweep.test_key} and final training "
                   "loss per variant, a dot per seed and the mean with the seeds' range; higher is better on the "
                   "left, lower on the right (log axis).")]


def _against_depth(ax, sweep: Sweep, groups: list[Group], key: str, log: bool, colour: str) -> None:
    points = sorted((g.depth, g.values(key)) for g in groups)
    if not points:
        return
    stats = [spread(values, geometric=log) for _, values in points]
    xs = [x for x, _ in points]
    ax.errorbar(xs, [m for m, _, _ in stats], yerr=error_bars(*zip(*stats)), marker="o", capsize=3, color=colour)
    for x, values in points:
        ax.scatter([x] * len(values), values, s=9, color=colour, alpha=0.6, zorder=3)


def _one_position(ax, x: int, groups: list[Group], key: str, log: bool, colour: str) -> None:
    values = [v for g in groups for v in g.values(key)]
    if not values:
        return
    mean, low, high = spread(values, geometric=log)
    offsets = [0.12 * (i - (len(values) - 1) / 2) / max(1, len(values) - 1) * 2 for i in range(len(values))]
    ax.scatter([x + o for o in offsets], values, s=14, color=colour, alpha=0.6, zorder=3)
    ax.errorbar([x], [mean], yerr=error_bars([mean], [low], [high]), marker="_", ms=18, mew=2, capsize=4,
                color=colour)


def _curve(ax, group: Group, key: str, x: str, colour: str) -> None:
    """Mean line with the seeds' range as its band, and each seed as a thin line when there are few."""
    points = [p for p in curve(group, key) if math.isfinite(getattr(p, x))]
    if not points:
        return
    xs = [getattr(p, x) for p in points]
    means, lows, highs = ([getattr(p, k) for p in points] for k in ("mean", "min", "max"))
    if len(xs) == 1:  # one epoch: a point with the seeds' range as its bar
        ax.errorbar(xs, means, yerr=error_bars(means, lows, highs), marker="o", capsize=4, color=colour)
        return
    ax.plot(xs, means, lw=1.6, color=colour)
    ax.fill_between(xs, lows, highs, color=colour, alpha=0.15, lw=0)
    seeds = seed_curves(group, key)
    if len(seeds) <= SEED_LINES:
        column = 0 if x == "epoch" else 1
        for own in seeds:
            ax.plot([row[column] for row in own], [row[2] for row in own], lw=0.6, alpha=0.55, color=colour)


def curves(sweep: Sweep) -> list[Figure]:
    """One figure per depth: training loss (log axis) and validation metric per epoch, a colour per variant; a
    second row against seconds when the history has them."""
    timed, out = has_time(sweep), []
    for depth in sweep.depths:
        groups = [g for g in _finished(sweep) if g.depth == depth
                  and (curve(g, LOSS) or curve(g, sweep.monitor))]
        if not groups:
            continue
        colours = series_colours(sweep, groups)
        rows = 2 if timed else 1
        fig, axes = plt.subplots(rows, 2, figsize=(11, 3.8 * rows), squeeze=False, layout="constrained")
        for group in groups:
            for row, x in enumerate(("epoch", "seconds")[:rows]):
                for ax, key in zip(axes[row], (LOSS, sweep.monitor)):
                    _curve(ax, group, key, x, colours[sweep.series(group)])
        for row, x in enumerate(("epoch", "wall-clock seconds (mean over seeds)")[:rows]):
            axes[row][0].set(xlabel=x, ylabel="training loss", yscale="log")
            axes[row][1].set(xlabel=x, ylabel=sweep.monitor)
            top = axes[row][1].get_ylim()
            axes[row][1].set_ylim(max(top[0], FRACTION[0] - 0.02), min(top[1], FRACTION[1] + 0.02))
            for ax in axes[row]:
                ax.grid(alpha=0.3)
        for ax in axes[0]:
            ax.xaxis.get_major_locator().set_params(integer=True)
        axes[0][0].set_title(f"training loss, depth {depth} (geometric mean over seeds)")
        axes[0][1].set_title(f"{sweep.monitor}, depth {depth} (mean over seeds)")
        seeds = max(len(g.jobs) for g in groups)
        extra = [Line2D([], [], color="grey", lw=6, alpha=0.3, label=BAND)]
        if seeds <= SEED_LINES:
            extra.append(Line2D([], [], color="grey", lw=0.6, label="thin: each seed"))
        legend(fig, sweep, colours, extra=extra)
        name = save(fig, sweep, f"curves_depth{depth}.png")
        out.append(Figure(name, f"Depth {depth}: the training loss (log axis, lower is better) and {sweep.monitor} "
                          "(higher is better) per epoch" + (" and against wall-clock seconds" if timed else "")
                          + ", a thick line per variant through the mean over seeds, the shaded band from its "
                          "lowest to its highest seed" + (", a thin line per seed" if seeds <= SEED_LINES else "")
                          + " (the 95 % intervals: curves.csv)."))
    return out


def frontier_figure(sweep: Sweep) -> list[Figure]:
    """Test metric against each cost on which the settings differ; a note for the costs on which they do not."""
    front = frontier(sweep)
    if not front:
        return []
    equal = {key: part for key, part in front.items() if same_cost(part[2])}
    drawn = {key: part for key, part in front.items() if key not in equal}
    notes = [f"{part[0]} ({compact(part[2][0].cost)})" for part in equal.values()]
    same = ("every setting has the same " + " and ".join(notes) + ": no frontier on " +
            ("that axis" if len(notes) == 1 else "those axes")) if notes else ""
    if not drawn:
        return [Figure(None, f"Cost frontier: {same}.")]
    colours = series_colours(sweep, [p.group for _, _, pts, _ in drawn.values() for p in pts])
    fig, axes = plt.subplots(1, len(drawn), figsize=(4.6 * len(drawn) + 2, 4.2), squeeze=False,
                             layout="constrained")
    for ax, (title, lower, pts, best) in zip(axes[0], drawn.values()):
        for i, p in enumerate(pts):
            ax.errorbar([p.cost], [p.metric], yerr=error_bars([p.metric], [p.low], [p.high]),
                        xerr=error_bars([p.cost], [p.cost_low], [p.cost_high]),
                        marker=depth_marker(sweep, p.group.depth),
                        capsize=3, ls="", color=colours[sweep.series(p.group)])
            if i in best:
                ax.scatter([p.cost], [p.metric], s=150, facecolors="none", edgecolors="black", lw=1.2, zorder=3)
        optimal = sorted((pts[i].cost, pts[i].metric) for i in best)
        ax.plot(*zip(*optimal), color="black", lw=0.8, ls="--")
        costs = [p.cost for p in pts]
        scale = "log" if min(costs) > 0 and max(costs) > 10 * min(costs) else "linear"
        better = "fewer is better" if lower else "more is better"
        ax.set(xlabel=f"{title} ({better})", ylabel=sweep.test_key, xscale=scale, title=f"{sweep.test_key} vs {title}")
        ax.grid(alpha=0.3)
    ring = Line2D([], [], marker="o", ms=10, mfc="none", mec="black", ls="--", color="black", lw=0.8,
                  label="Pareto-optimal")
    legend(fig, sweep, colours, depths=True, extra=[ring])
    caption = (f"Cost frontier: {sweep.test_key} (higher is better) against each cost, a point per setting at its "
               "means over seeds with bars from its lowest to its highest seed; ringed and joined: no other setting "
               "is as good for less" + (f"; {same}" if same else "") + ".")
    return [Figure(save(fig, sweep, "frontier.png"), caption)]


def _per_block(group: Group, key: str, geometric: bool = False) -> list[float] | None:
    """Element-wise mean over the group's finished seeds of a per-block list; geometric for gradient norms,
    which span decades. None when absent or when the seeds disagree on the block count."""
    lists = [job.metrics[key] for job in group.jobs if job.status == FINISHED and job.metrics.get(key)]
    if not lists or len({len(values) for values in lists}) != 1:
        return None
    return [spread(column, geometric=geometric)[0] for column in zip(*lists)]


def gradient_flow(sweep: Sweep) -> list[Figure]:
    """One figure per depth: per-block gradient norm at the first logged step, a line per variant. Blocks are
    numbered 0..n-1 from the input, as in a run's own grad_flow.png."""
    out = []
    for depth in sweep.depths:
        lines = [(g, values) for g in sweep.groups if g.depth == depth
                 if (values := _per_block(g, "grad/first_step", geometric=True))]
        if not lines:
            continue
        colours = series_colours(sweep, [g for g, _ in lines])
        fig, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
        for group, values in lines:
            ax.plot(range(len(values)), values, marker=".", color=colours[sweep.series(group)])
        ax.set(xlabel="block (0 = input side)", ylabel="gradient norm of the block's parameters", yscale="log",
               title=f"gradient flow at the first step, depth {depth} (geometric mean over seeds)")
        ax.grid(alpha=0.3)
        legend(fig, sweep, colours)
        out.append(Figure(save(fig, sweep, f"grad_flow_depth{depth}.png"),
                          f"Depth {depth}: the gradient norm of each block's parameters at the first step (log "
                          "axis), input side on the left; a flat line is gradient reaching every block alike."))
    return out


def wrc(sweep: Sweep) -> list[Figure]:
    """Final WRC alpha (branch) and beta (shortcut) per block, a line per weighted group (mean over seeds)."""
    lines = [(g, _per_block(g, "wrc/alpha"), _per_block(g, "wrc/beta")) for g in sweep.groups]
    lines = [line for line in lines if line[1]]
    if not lines:
        return []
    colours = series_colours(sweep, [g for g, _, _ in lines])
    styles = ("-", "--", ":", "-.")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True, layout="constrained")
    for group, alpha, beta in lines:
        for ax, values in zip(axes, (alpha, beta)):
            if values:
                ax.plot(range(len(values)), values, marker=".", color=colours[sweep.series(group)],
                        ls=styles[sweep.depths.index(group.depth) % len(styles)])
    for ax, name in zip(axes, ("alpha (branch scale)", "beta (shortcut scale)")):
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set(xlabel="block (0 = input side)", title=f"final WRC {name}")
        ax.grid(alpha=0.3)
    depths = sorted({g.depth for g, _, _ in lines})
    extra = [Line2D([], [], color="black", ls=styles[sweep.depths.index(d) % len(styles)], label=f"depth {d}")
             for d in depths] if len(depths) > 1 else []
    legend(fig, sweep, colours, extra=extra)
    return [Figure(save(fig, sweep, "wrc.png"), "The weighted blocks' final scales per block (mean over seeds): "
                   "alpha on the residual branch, beta on the shortcut; the dashed line is 1 (a plain block).")]
