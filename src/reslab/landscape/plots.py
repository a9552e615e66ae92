"""Figures of loss landscapes: a run's contour and surface (or line), and a sweep's panel on one colour scale."""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _levels(results: list[dict]) -> np.ndarray:
    """Shared contour levels of log10(loss) over every landscape given."""
    logs = np.concatenate([np.log10(np.clip(r["loss"], 1e-12, None)).ravel() for r in results])
    logs = logs[np.isfinite(logs)]
    low, high = (logs.min(), logs.max()) if logs.size else (0.0, 1.0)
    return np.linspace(low, max(high, low + 1e-6), 25)


def _caption(result: dict) -> str:
    info = result["info"]
    top, ratio = info["curvature/lambda_max"], info["curvature/convexity_ratio"]
    centre = result["loss"][(len(result["coords"]) // 2,) * result["loss"].ndim]
    text = f"loss at centre {centre:.3g}"
    return text if not math.isfinite(top) else f"{text}\nλmax {top:.3g}, |λmin/λmax| {ratio:.2g}"


def _draw(ax, result: dict, levels: np.ndarray) -> object:
    """A contour map of log10 loss (2-D) or the loss along the direction (1-D) on `ax`."""
    coords, loss = result["coords"], result["loss"]
    if loss.ndim == 1:
        ax.plot(coords, loss)
        ax.set(yscale="log", ylim=(10 ** levels[0], 10 ** levels[-1]), xlabel="α", ylabel="training loss")
        return None
    logs = np.log10(np.clip(loss, 1e-12, None)).T  # rows = second direction
    filled = ax.contourf(coords, coords, logs, levels=levels, cmap="viridis", extend="both")
    ax.contour(coords, coords, logs, levels=levels[::3], colors="white", linewidths=0.4)
    ax.plot(0, 0, "r*", markersize=8)
    ax.set(xlabel="α", ylabel="β", aspect="equal")
    return filled


def plot_run(result: dict, folder: Path, title: str) -> list[Path]:
    """landscape_contour.png and landscape_surface.png (2-D), or landscape_line.png (1-D), into `folder`."""
    levels = _levels([result])
    written = []
    if result["loss"].ndim == 1:
        fig, ax = plt.subplots(figsize=(5, 4))
        _draw(ax, result, levels)
        ax.set_title(f"{title}\n{_caption(result)}", fontsize=9)
        written.append(_save(fig, folder / "landscape_line.png"))
        return written
    fig, ax = plt.subplots(figsize=(5.2, 4.5))
    fig.colorbar(_draw(ax, result, levels), ax=ax, label="log10 training loss")
    ax.set_title(f"{title}\n{_caption(result)}", fontsize=9)
    written.append(_save(fig, folder / "landscape_contour.png"))
    fig = plt.figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot(projection="3d")
    a, b = np.meshgrid(result["coords"], result["coords"])
    ax.plot_surface(a, b, np.log10(np.clip(result["loss"], 1e-12, None)).T, cmap="viridis", linewidth=0)
    ax.set(xlabel="α", ylabel="β", zlabel="log10 loss")
    ax.set_title(f"{title}\n{_caption(result)}", fontsize=9)
    written.append(_save(fig, folder / "landscape_surface.png"))
    return written


def plot_panel(cells: dict[tuple[str, str], dict], path: Path) -> Path:
    """One landscape per (row, column) key, on one colour scale: e.g. rows = depth, columns = variant."""
    rows = list(dict.fromkeys(row for row, _ in cells))
    columns = list(dict.fromkeys(column for _, column in cells))
    levels = _levels(list(cells.values()))
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(4.2 * len(columns), 3.9 * len(rows)),
                             squeeze=False, sharey=True)
    filled = None
    for (row, column), result in cells.items():
        ax = axes[rows.index(row), columns.index(column)]
        filled = _draw(ax, result, levels) or filled
        ax.set_title(f"{', '.join(filter(None, (column, row)))}\n{_caption(result)}", fontsize=8)
    for ax in axes.ravel():
        if not ax.has_data():
            ax.axis("off")
    if filled is not None:
        fig.colorbar(filled, ax=axes.ravel().tolist(), label="log10 training loss", shrink=0.8)
    return _save(fig, path, tight=filled is None)


def _save(fig, path: Path, tight: bool = True) -> Path:
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
