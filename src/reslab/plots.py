"""The sweep's figures (PNG): results against depth, training-loss curves, gradient flow, WRC scalars.

Each figure reads only the jobs' metrics.json (and TensorBoard events for the curves) and is skipped when its
data is absent (e.g. gradient flow with `diagnostics=off`).
"""
import logging
import math
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from reslab.sweep import FINISHED, Group, Job, Sweep  # noqa: E402

COLOURS = {"plain": "Blues", "weighted": "Greens", "csp": "Purples", "noshortcut": "Reds"}
OTHER_COLOURS = ("Oranges", "Greys", "YlOrBr", "BuGn")


def write_figures(sweep: Sweep) -> list[str]:
    """Draw every figure the data allows into the sweep folder; returns the file names."""
    names = [_depth(sweep), _curves(sweep), *_gradient_flow(sweep), _wrc(sweep)]
    return [name for name in names if name]


def _depth_of(job: Job) -> int:
    return int(job.overrides.get("depth", job.config.get("depth", 0)))


def _shade(sweep: Sweep, job: Job) -> float:
    """0 for the shallowest depth of the sweep, 1 for the deepest."""
    depths = sorted({_depth_of(j) for j in sweep.jobs})
    return depths.index(_depth_of(job)) / max(1, len(depths) - 1)


def _series(sweep: Sweep, group: Group) -> str:
    """A group's line label: every swept key but depth."""
    return sweep.label(group, without=("depth",))


def _colour(sweep: Sweep, group: Group, shade: float = 0.75):
    """One colour map per variant; `shade` in [0, 1] darkens it (deeper nets are drawn darker)."""
    labels = list(dict.fromkeys(_series(sweep, g) for g in sweep.groups))
    variant = sweep.variant(group) or ""
    name = COLOURS.get(variant) or OTHER_COLOURS[labels.index(_series(sweep, group)) % len(OTHER_COLOURS)]
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
    panels = ((sweep.test_key, f"{sweep.test_key} (best checkpoint)", "linear"),
              ("train/loss", "final training loss", "log"))
    series: dict[str, list[Group]] = {}
    for group in sweep.groups:
        series.setdefault(_series(sweep, group), []).append(group)
    for ax, (key, title, scale) in zip(axes, panels):
        for label, groups in series.items():
            points = [(_depth_of(g.jobs[0]), g.values(key)) for g in groups if g.values(key)]
            points.sort()
            if not points:
                continue
            xs = [x for x, _ in points]
            means = [statistics.fmean(v) for _, v in points]
            spread = [statistics.stdev(v) if len(v) > 1 else 0.0 for _, v in points]
            ax.errorbar(xs, means, yerr=spread, marker="o", capsize=3, label=label, color=_colour(sweep, groups[0]))
            for x, values in points:
                ax.scatter([x] * len(values), values, s=8, color=_colour(sweep, groups[0]), alpha=0.5)
        ax.set(xlabel="depth", title=title, yscale=scale, xticks=sorted({_depth_of(job) for job in sweep.jobs}))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, sweep, "depth.png")


def _tensorboard_loss(job: Job) -> list[tuple[float, float]] | None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logging.getLogger("tensorboard").setLevel(logging.WARNING)  # its per-file notes would flood Hydra's log
    folder = job.path / "tensorboard"
    if not folder.is_dir():
        return None
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    if "train/loss" not in events.Tags()["scalars"]:
        return None
    return [(e.step, e.value) for e in events.Scalars("train/loss")]


def _history_loss(job: Job) -> list[tuple[float, float]]:
    return [(row["epoch"] + 1, row["train/loss"]) for row in job.metrics.get("history", []) if "train/loss" in row]


def _curves(sweep: Sweep) -> str | None:
    """The training-loss curves of every job in one figure: per logged step from TensorBoard when every job
    has events, else per epoch from metrics.json. Colour = variant, darker = deeper."""
    curves = [_tensorboard_loss(job) for job in sweep.jobs]
    unit = "training step"
    if any(curve is None for curve in curves):
        curves, unit = [_history_loss(job) for job in sweep.jobs], "epoch"
    if not any(curves):
        return None
    group_of = {id(job): group for group in sweep.groups for job in group.jobs}
    fig, ax = plt.subplots(figsize=(9, 5))
    labelled = set()
    for job, curve in zip(sweep.jobs, curves):
        if not curve:
            continue
        group = group_of[id(job)]
        label = sweep.label(group)
        xs, ys = zip(*curve)
        ax.plot(xs, [y if math.isfinite(y) and y > 0 else math.nan for y in ys], lw=1,
                color=_colour(sweep, group, _shade(sweep, job)), alpha=0.85, label=None if label in labelled else label)
        labelled.add(label)
    ax.set(xlabel=unit, ylabel="training loss", yscale="log", title="training loss, every job (colour per group)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, sweep, "curves.png")


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
    """One figure per depth: per-block gradient norm at the first logged step, a line per variant."""
    names = []
    for depth in sorted({_depth_of(job) for job in sweep.jobs}):
        groups = [g for g in sweep.groups if _depth_of(g.jobs[0]) == depth]
        lines = [(g, values) for g in groups if (values := _per_block(g, "grad/first_step", geometric=True))]
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for group, values in lines:
            ax.plot(range(1, len(values) + 1), values, marker=".", label=_series(sweep, group),
                    color=_colour(sweep, group))
        ax.set(xlabel="block (input → output)", ylabel="gradient norm of the block's parameters", yscale="log",
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
                ax.plot(range(1, len(values) + 1), values, marker=".", label=sweep.label(group),
                        color=_colour(sweep, group, _shade(sweep, group.jobs[0])))
    for ax, name in zip(axes, ("alpha (branch scale)", "beta (shortcut scale)")):
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set(xlabel="block (input → output)", title=f"final WRC {name}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, sweep, "wrc.png")
