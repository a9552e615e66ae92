"""The per-run figures of the mechanisms instruments (reslab.callbacks.mechanisms writes them): one PNG each."""
import math
import statistics
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def _stage_lines(ax, names: list[str], offset: float = 0.5) -> None:
    """Dotted verticals where a new stage starts (names "stageK.blockJ"), at x = (index of its first block) - offset."""
    stages = [name.split(".")[0] for name in names]
    for i in range(1, len(stages)):
        if stages[i] != stages[i - 1]:
            ax.axvline(i - offset, color="grey", linestyle=":", linewidth=1)


def _save(fig: Figure, path: Path, title: str) -> None:
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_signal(rows, path: Path, title: str) -> None:
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    blocks = [r["block"] for r in rows]
    left.semilogy(blocks, [r["stream_var"] for r in rows], marker="o", markersize=3, label="average channel variance")
    left.semilogy(blocks, [max(r["stream_sq_mean"], 1e-12) for r in rows], marker="s", markersize=3,
                  label="average channel squared mean")
    left.set(xlabel="residual block (0: entering the first)", ylabel="residual stream", title="signal propagation")
    right.semilogy(blocks[1:], [r["ratio"] if r["ratio"] > 0 else math.nan for r in rows[1:]], marker="o",
                   markersize=3)
    right.set(xlabel="residual block", ylabel="var(branch) / var(shortcut)", title="what each branch adds")
    for ax in (left, right):
        _stage_lines(ax, [r["name"] for r in rows[1:]], -0.5)  # x = block number, 1 first
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    _save(fig, path, f"{title}: at initialisation")


def plot_shattered(rows, profile, path: Path, title: str) -> None:
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    left.plot([i / (len(profile) - 1) for i in range(len(profile))], profile, linewidth=1)
    left.set(xlabel="position t on the line between two inputs", ylabel="d output / d t",
             title="input gradient along a line (first line)")
    lags = [r["lag"] for r in rows]
    right.fill_between(lags, [r["corr_min"] for r in rows], [r["corr_max"] for r in rows], alpha=0.25,
                       label="range over lines")
    right.plot(lags, [r["corr"] for r in rows], label="cosine (mean over lines)")
    right.plot(lags, [r["centred"] for r in rows], linestyle="--", label="centred")
    right.set(xlabel="distance between points (steps)", ylabel="gradient correlation", ylim=(-1.05, 1.05),
              title="autocorrelation")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    _save(fig, path, f"{title}: shattered gradients at initialisation")


def plot_lesion(rows, names, shapes, classes: int, path: Path, title: str) -> None:
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    intact = rows[0]["error"]
    single = [r for r in rows if r["kind"] == "single"]
    colours = ["tab:red" if cin != cout else "tab:blue" for cin, cout in shapes]
    left.scatter([r["k"] for r in single], [r["error"] for r in single], c=colours, s=14)
    left.axhline(intact, color="black", linewidth=1, label="intact")
    left.axhline(1 - 1 / classes, color="grey", linestyle="--", linewidth=1, label="chance")
    left.set(xlabel="deleted block (red: changes the shape)", ylabel="test error", ylim=(0, 1),
             title="one block deleted")
    _stage_lines(left, names, 0.5)
    for kind, label in (("random", "k random blocks deleted"), ("reorder", "k random swaps")):
        by = [r for r in rows if r["kind"] == kind]
        ks = sorted({r["k"] for r in by})
        if not ks:
            continue
        errors = [[r["error"] for r in by if r["k"] == k] for k in ks]
        right.fill_between(ks, [min(e) for e in errors], [max(e) for e in errors], alpha=0.25)
        right.plot(ks, [statistics.fmean(e) for e in errors], marker="o", markersize=3, label=label)
    right.axhline(1 - 1 / classes, color="grey", linestyle="--", linewidth=1)
    right.set(xlabel="k", ylabel="test error (band: range over draws)", ylim=(0, 1), title="several blocks")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _save(fig, path, f"{title}: lesions on the trained net")


def plot_paths(rows, carried, typical, fraction, path: Path, title: str) -> None:
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    ks = [r["k"] for r in rows]
    left.fill_between(ks, [r["norm_min"] for r in rows], [r["norm_max"] for r in rows], alpha=0.25)
    left.semilogy(ks, [r["norm_mean"] for r in rows], marker="o", markersize=3)
    left.set(xlabel="path length k (branches taken)", ylabel="gradient norm at the input of block 1",
             title="one path of length k")
    right.plot(ks, [r["share"] for r in rows], marker="o", markersize=3, label="share of the gradient")
    right.plot(ks, [r["path_fraction"] for r in rows], linestyle="--", label="share of the paths")
    right.axvspan(carried[0] - 0.5, carried[1] + 0.5, alpha=0.15, color="tab:blue",
                  label=f"{fraction:.0%} of the gradient: {carried[0]}-{carried[1]}")
    right.axvspan(typical[0] - 0.5, typical[1] + 0.5, alpha=0.1, color="tab:orange",
                  label=f"{fraction:.0%} of the paths: {typical[0]}-{typical[1]}")
    right.set(xlabel="path length k", ylabel="share", ylim=(0, None), title="all paths of length k")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _save(fig, path, f"{title}: gradient by path length (trained net)")


def plot_cka(matrix, names, path: Path, title: str) -> None:
    fig = Figure(figsize=(5.2, 4.4))
    ax = fig.subplots()
    image = ax.imshow(matrix.numpy(), vmin=0, vmax=1, cmap="magma", origin="lower")
    fig.colorbar(image, ax=ax, label="linear CKA")
    ax.set(xlabel="residual block", ylabel="residual block", title="similarity of the blocks' outputs")
    _save(fig, path, f"{title}: CKA (trained net, test data)")
