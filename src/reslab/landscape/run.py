"""The landscape and curvature of a finished run, written into its folder (scripts/landscape.py drives it)."""
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from reslab.checkpoint_files import load_run
from reslab.errors import UsageError
from reslab.landscape.hessian import KEYS, curvature
from reslab.landscape.plots import plot_run
from reslab.landscape.surface import batches, loss_surface, random_directions, training_subset


def run_landscape(run_dir: Path, dims: int = 2, points: int = 25, span: float = 1.0, samples: int = 2048,
                  seed: int = 0, checkpoint: str = "last", iterations: int = 100, hessian_samples: int = 512,
                  device: str | None = None, reuse: bool = True) -> dict:
    """The landscape and curvature of one run, written to <run_dir>/landscape.npz, landscape.json and PNGs.

    Returns {"coords", "loss", "acc", "info"}; `info` holds the settings, curvature/* (NaN when iterations=0) and
    landscape/seconds. The curvature is measured on the first `hessian_samples` of the landscape's subset (the
    subset `landscape=on` measures with the same seed and sample count). With `reuse`, a landscape.npz newer than the checkpoint and computed with the same
    settings is read instead of recomputed.
    """
    run_dir = Path(run_dir)
    cfg, data, task, path = load_run(run_dir, checkpoint)
    if cfg.task.name != "classification":
        raise UsageError(f"{str(run_dir)!r} is a task={cfg.task.name} run: landscapes need task=classification")
    settings = {"dims": dims, "points": points, "span": span, "samples": samples, "seed": seed,
                "checkpoint": str(path), "iterations": iterations, "hessian_samples": hessian_samples}
    saved = run_dir / "landscape.npz"
    if reuse and saved.is_file() and saved.stat().st_mtime > path.stat().st_mtime:
        result = read_landscape(saved)
        if result["info"]["settings"] == settings:
            return result
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = task.model.to(device).eval()
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
