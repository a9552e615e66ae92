"""Loss landscapes (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets") and Hessian curvature.

A landscape is the loss on a fixed subset of the training data at w + a*d1 (+ b*d2), the d's random directions
with filter normalisation: each filter (output slice of a conv or linear weight) of a direction is rescaled to
the norm of the matching weight filter, so the picture does not depend on the scale of the weights (which
BatchNorm leaves free) and nets of different sizes can be compared; BatchNorm and bias directions are zero.
Curvature is the Hessian's extreme eigenvalues by power iteration on Hessian-vector products (double backward).
Everything runs in eval mode (BatchNorm uses its running statistics) with plain cross-entropy.
"""
import itertools
import json
import math
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import default_collate

from reslab.errors import ConfigError

EVAL_BATCH = 512  # samples per forward pass while evaluating; only speed and memory depend on it
KEYS = ("curvature/lambda_max", "curvature/lambda_min", "curvature/convexity_ratio", "curvature/train_loss",
        "curvature/seconds")


# ---------------------------------------------------------------- data


def training_subset(data, samples: int, seed: int) -> tuple[Tensor, Tensor]:
    """The first `samples` training examples after a permutation seeded by `seed`, normalised as the network sees
    them (no augmentation). `data` is a set-up `ReslabData`."""
    train = data.splits.train
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:samples]
    x, y = default_collate([train[i] for i in order.tolist()])
    if data.info.kind == "image":  # uint8 -> float, as ReslabData.on_after_batch_transfer does
        from reslab.data.augment import normalize

        x = normalize(x, data._mean.to(x.device), data._std.to(x.device))
    return x, y


def batches(x: Tensor, y: Tensor, device, channels_last: bool = False) -> list[tuple[Tensor, Tensor]]:
    """(x, y) moved to `device` once and cut into evaluation batches."""
    x = x.to(device)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return list(zip(x.split(EVAL_BATCH), y.to(device).split(EVAL_BATCH)))


def evaluate(model: nn.Module, data: list[tuple[Tensor, Tensor]]) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` (as it is: call .eval() first) over the batches."""
    total, correct, n = 0.0, 0, 0
    with torch.inference_mode():
        for x, y in data:
            logits = model(x)
            total = total + F.cross_entropy(logits, y, reduction="sum")
            correct = correct + (logits.argmax(1) == y).sum()
            n += len(y)
    return float(total) / n, float(correct) / n


# ---------------------------------------------------------------- directions and the grid


def random_direction(model: nn.Module, generator: torch.Generator) -> list[Tensor]:
    """A Gaussian direction shaped like `model.parameters()`, filter-normalised; zero for 0-/1-D parameters
    (BatchNorm, biases, WRC scalars). Drawn on the CPU, so the same generator state gives the same direction on
    any device."""
    direction = []
    for p in model.parameters():
        d = torch.zeros_like(p)
        if p.dim() > 1:
            d.copy_(torch.randn(p.shape, generator=generator))
            scale = p.detach().flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1).clamp_min(1e-12)
            d.mul_(scale.view(-1, *[1] * (p.dim() - 1)))
        direction.append(d)
    return direction


def random_directions(model: nn.Module, dims: int, seed: int) -> list[list[Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [random_direction(model, generator) for _ in range(dims)]


def loss_surface(model: nn.Module, data: list[tuple[Tensor, Tensor]], directions: list[list[Tensor]],
                 coords: np.ndarray, progress: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at w + sum_k c_k * d_k for every point of coords x ... x coords (one axis per direction);
    arrays of shape (len(coords),) * len(directions), indexed [a, b]. The weights are set in place on the one
    model and restored afterwards. `progress` is the label of a progress bar (None: no bar)."""
    from tqdm import tqdm

    moving = [i for i, p in enumerate(model.parameters()) if p.dim() > 1]
    params = [p for i, p in enumerate(model.parameters()) if i in moving]
    steps = [[d[i] for i in moving] for d in directions]
    origin = [p.detach().clone() for p in params]
    grid = list(itertools.product(coords.tolist(), repeat=len(directions)))
    loss, acc = np.empty(len(grid)), np.empty(len(grid))
    try:
        for n, point in enumerate(tqdm(grid, desc=progress, unit="point", disable=progress is None)):
            with torch.no_grad():
                for j, (p, w) in enumerate(zip(params, origin)):
                    p.copy_(w)
                    for c, step in zip(point, steps):
                        p.add_(step[j], alpha=c)
            loss[n], acc[n] = evaluate(model, data)
    finally:
        with torch.no_grad():
            for p, w in zip(params, origin):
                p.copy_(w)
    shape = (len(coords),) * len(directions)
    return loss.reshape(shape), acc.reshape(shape)


# ---------------------------------------------------------------- curvature


def hessian_vector_product(model: nn.Module, data: list[tuple[Tensor, Tensor]]):
    """v -> H v for the mean cross-entropy over `data`, H the Hessian with respect to all trainable parameters,
    vectors flat (parameter order). Double backward, batch by batch."""
    params = [p for p in model.parameters() if p.requires_grad]
    n = sum(len(y) for _, y in data)

    def product(v: Tensor) -> Tensor:
        parts = [part.view_as(p) for part, p in zip(v.split([p.numel() for p in params]), params)]
        out = torch.zeros_like(v)
        with torch.enable_grad():
            for x, y in data:
                loss = F.cross_entropy(model(x), y, reduction="sum") / n
                grads = torch.autograd.grad(loss, params, create_graph=True)
                out += torch.cat([h.reshape(-1) for h in torch.autograd.grad(grads, params, grad_outputs=parts)])
        return out

    return product, sum(p.numel() for p in params)


def power_iteration(matvec, size: int, iterations: int, tolerance: float, generator: torch.Generator,
                    like: Tensor, shift: float = 0.0) -> float:
    """The eigenvalue of a symmetric operator H farthest from `shift` (power iteration on H - shift * I); stops
    when the estimate changes by less than `tolerance` of itself from one iteration to the next, or after
    `iterations`. Vectors have the dtype and device of `like`."""
    v = torch.randn(size, generator=generator).to(like)
    v /= v.norm()
    eigenvalue = math.nan
    for _ in range(iterations):
        hv = matvec(v) - shift * v
        estimate = float(hv @ v) + shift
        v = hv / hv.norm()
        converged = abs(estimate - eigenvalue) <= tolerance * abs(estimate)
        eigenvalue = estimate
        if converged:
            break
    return eigenvalue


def hessian_extremes(model: nn.Module, data: list[tuple[Tensor, Tensor]], iterations: int = 100,
                     tolerance: float = 1e-3, seed: int = 0, min_eigenvalue: bool = True) -> tuple[float, float]:
    """(lambda_max, lambda_min) of the loss Hessian. Power iteration finds the eigenvalue of largest magnitude,
    then power iteration shifted by it finds the other end of the spectrum (lambda_min is NaN when not asked).
    The second converges slowly when |lambda_min| is small: it then often runs all `iterations`."""
    product, size = hessian_vector_product(model, data)
    generator = torch.Generator().manual_seed(seed)
    like = next(model.parameters())
    first = power_iteration(product, size, iterations, tolerance, generator, like)
    if not min_eigenvalue:
        return first, math.nan
    other = power_iteration(product, size, iterations, tolerance, generator, like, shift=first)
    return max(first, other), min(first, other)


def curvature(model: nn.Module, data: list[tuple[Tensor, Tensor]], iterations: int = 100, tolerance: float = 1e-3,
              seed: int = 0, min_eigenvalue: bool = True) -> dict:
    """The metrics.json `curvature/*` figures of `model` (put in eval mode meanwhile) on `data`; NaN when the loss
    there is not finite (a diverged run)."""
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        loss, _ = evaluate(model, data)
        top, bottom = hessian_extremes(model, data, iterations, tolerance, seed, min_eigenvalue) \
            if math.isfinite(loss) else (math.nan, math.nan)
    finally:
        model.train(was_training)
    ratio = abs(bottom / top) if top else math.nan
    values = (top, bottom, ratio, loss, round(time.perf_counter() - start, 3))
    return dict(zip(KEYS, values))


class Curvature(L.Callback):
    """At the end of training: the curvature figures of the final weights on a training subset -> metrics.json."""

    def __init__(self, samples: int, iterations: int, tolerance: float, min_eigenvalue: bool, seed: int):
        self.samples, self.iterations, self.tolerance = samples, iterations, tolerance
        self.min_eigenvalue, self.seed = min_eigenvalue, seed
        self.result: dict = {}

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from reslab.diagnostics import original_module

        x, y = training_subset(trainer.datamodule, self.samples, self.seed)
        data = batches(x, y, pl_module.device, pl_module.channels_last)
        self.result = curvature(original_module(pl_module.model), data, self.iterations, self.tolerance,
                                self.seed, self.min_eigenvalue)

    def summary(self) -> dict:
        return self.result


def landscape_callbacks(cfg) -> list[L.Callback]:
    """[Curvature(...)] when `cfg.landscape.enabled` (config group `landscape`), else []."""
    c = cfg.get("landscape")
    if c is None or not c.enabled:
        return []
    if cfg.task.name != "classification":
        raise ConfigError(f"landscape=on needs task=classification, not task={cfg.task.name}")
    for key in ("samples", "iterations"):
        if not isinstance(c[key], int) or isinstance(c[key], bool) or c[key] < 1:
            raise ConfigError(f"landscape.{key}={c[key]!r} is invalid: expected an integer > 0")
    if not isinstance(c.tolerance, (int, float)) or not c.tolerance > 0:
        raise ConfigError(f"landscape.tolerance={c.tolerance!r} is invalid: expected a number > 0")
    return [Curvature(c.samples, c.iterations, float(c.tolerance), bool(c.min_eigenvalue), c.seed)]


# ---------------------------------------------------------------- a run folder


def load_run(run_dir: Path, checkpoint: str = "last"):
    """(datamodule, task) of a finished run, with the weights of `checkpoint`: "last", "best" or a .ckpt path."""
    from reslab.checkpoints import load_checked, saved_config
    from reslab.tasks import build

    run_dir = Path(run_dir)
    cfg = saved_config(run_dir)
    if cfg.task.name != "classification":
        raise ConfigError(f"{str(run_dir)!r} is a task={cfg.task.name} run: landscapes need task=classification")
    path = run_dir / "checkpoints" / f"{checkpoint}.ckpt" if checkpoint in ("last", "best") else Path(checkpoint)
    if not path.is_file():
        raise ConfigError(f"checkpoint {str(path)!r} does not exist: give last, best or the path of a .ckpt file")
    data, task = build(cfg)
    task.load_state_dict(load_checked(path, task)["state_dict"])
    return data, task, path


def run_landscape(run_dir: Path, dims: int = 2, points: int = 25, span: float = 1.0, samples: int = 2048,
                  seed: int = 0, checkpoint: str = "last", iterations: int = 100, hessian_samples: int = 512,
                  device: str | None = None, reuse: bool = True) -> dict:
    """The landscape and curvature of one run, written to <run_dir>/landscape.npz, landscape.json and PNGs.

    Returns {"coords", "loss", "acc", "info"}; `info` holds the settings, curvature/* (NaN when iterations=0) and
    landscape/seconds. The curvature is measured on the first `hessian_samples` of the landscape's subset (the
    subset `landscape=on` measures with the same seed and sample count). With `reuse`, a landscape.npz newer than the checkpoint and computed with the same
    settings is read instead of recomputed.
    """
    from reslab.diagnostics import original_module

    run_dir = Path(run_dir)
    data, task, path = load_run(run_dir, checkpoint)
    settings = {"dims": dims, "points": points, "span": span, "samples": samples, "seed": seed,
                "checkpoint": str(path), "iterations": iterations, "hessian_samples": hessian_samples}
    saved = run_dir / "landscape.npz"
    if reuse and saved.is_file() and saved.stat().st_mtime > path.stat().st_mtime:
        result = read_landscape(saved)
        if result["info"]["settings"] == settings:
            return result
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = original_module(task.model).to(device).eval()
    x, y = training_subset(data, samples, seed)
    subset = batches(x, y, device, task.channels_last)
    info = {"settings": settings, **dict.fromkeys(KEYS, math.nan)}
    if iterations:
        n = hessian_samples
        info.update(curvature(model, batches(x[:n], y[:n], device, task.channels_last), iterations, seed=seed))
    coords = np.linspace(-span, span, points)
    start = time.perf_counter()
    loss, acc = loss_surface(model, subset, random_directions(model, dims, seed), coords, progress=run_dir.name)
    info["landscape/seconds"] = round(time.perf_counter() - start, 3)
    result = {"coords": coords, "loss": loss, "acc": acc, "info": info}
    np.savez(saved, coords=coords, loss=loss, acc=acc, info=json.dumps(info))
    (run_dir / "landscape.json").write_text(json.dumps(info, indent=2))
    plot_run(result, run_dir, title=run_dir.name)
    return result


def read_landscape(path: Path) -> dict:
    with np.load(path) as saved:
        return {"coords": saved["coords"], "loss": saved["loss"], "acc": saved["acc"],
                "info": json.loads(str(saved["info"]))}


# ---------------------------------------------------------------- figures


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    import matplotlib.pyplot as plt

    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
