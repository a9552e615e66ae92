"""The mechanisms instruments (`reslab.mechanisms`) on a run: signal propagation and shattered gradients on the
network at initialisation (fit start), lesions, gradient by path length and CKA on the best checkpoint after the
test. Each instrument writes <run folder>/<name>.csv and <name>.png, puts its headline numbers in metrics.json
under `<name>/...` and its wall time in <run folder>/mechanisms_seconds.json. scripts/mechanisms.py runs the same
on a finished run folder.
"""
import csv
import logging
import math
import statistics
import time
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import default_collate

from reslab.callbacks.blocks import MeasuredOnce, residual_blocks
from reslab.callbacks.mechanism_figures import plot_cka, plot_lesion, plot_paths, plot_shattered, plot_signal
from reslab.data.augment import normalize
from reslab.mechanisms import cka, lesion, paths, shattered, signal
from reslab.models.network import ResidualNet
from reslab.run_files import read_json, write_json

log = logging.getLogger(__name__)
AT_INIT = ("signal", "shattered")
AFTER_TRAINING = ("lesion", "path_length", "cka")
INSTRUMENTS = AT_INIT + AFTER_TRAINING
SECONDS = "mechanisms_seconds.json"  # {instrument: wall seconds} of the last measurement, in the run folder


def subset(data, split: str, samples: int, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """`samples` examples of split `split` ("train" | "test") after a permutation seeded by `seed`, normalised as
    the network sees them (no augmentation), on `device`. `data` is a set-up `ReslabData`."""
    dataset = getattr(data.splits, split)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:samples]
    x, y = default_collate([dataset[i] for i in order.tolist()])
    x, y = x.to(device), y.to(device)
    if data.info.kind == "image":  # uint8 -> float, as ReslabData.on_after_batch_transfer does
        x = normalize(x, data._mean.to(device), data._std.to(device))
    return x, y


def write_rows(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


class Mechanisms(MeasuredOnce):
    """Runs the instruments whose settings are given (a mapping each; None = off) and keeps their headline numbers
    for metrics.json. `seed` seeds every sample, draw and direction: same seed -> same measurement."""

    def __init__(self, seed: int = 0, signal: dict | None = None, shattered: dict | None = None,
                 lesion: dict | None = None, path_length: dict | None = None, cka: dict | None = None):
        self.seed = seed
        self.settings = {"signal": signal, "shattered": shattered, "lesion": lesion, "path_length": path_length,
                         "cka": cka}
        super().__init__()

    # --- Lightning hooks ---------------------------------------------------------------------------------------
    def on_fit_start(self, trainer, pl_module):
        if trainer.ckpt_path is None and trainer.is_global_zero and self._applies(pl_module):  # weights at init
            self.result.update(self.measure(AT_INIT, pl_module.model, trainer.datamodule,
                                            Path(trainer.default_root_dir)))

    def on_test_end(self, trainer, pl_module):
        if trainer.is_global_zero and self._applies(pl_module):  # reslab.run.test loaded the best checkpoint
            self.result.update(self.measure(AFTER_TRAINING, pl_module.model, trainer.datamodule,
                                            Path(trainer.default_root_dir)))

    def _applies(self, pl_module) -> bool:
        if isinstance(pl_module.model, ResidualNet):
            return True
        if any(self.settings.values()):
            log.warning("mechanisms: skipped, the instruments measure classification networks only")
        return False

    # --- the instruments ---------------------------------------------------------------------------------------
    def measure(self, which, model, data, run_dir: Path) -> dict:
        """Run the instruments of `which` that are on, on `model` (as it is) and `data` (a set-up ReslabData);
        write their CSV and PNG into `run_dir`; return their headline numbers."""
        device = next(model.parameters()).device
        names = [name for name, _ in residual_blocks(model)]
        out, seconds = {}, read_json(run_dir / SECONDS) or {}
        with torch.inference_mode(False):  # Lightning tests in inference mode; the gradients need autograd
            for name in (n for n in which if self.settings[n] is not None):
                start = time.perf_counter()
                numbers = getattr(self, f"_{name}")(model, data, device, names, run_dir, **self.settings[name])
                out.update({f"{name}/{k}": v for k, v in numbers.items()})
                seconds[name] = round(time.perf_counter() - start, 3)
                log.info("mechanisms: %s measured in %.2f s", name, seconds[name])
        write_json(run_dir / SECONDS, seconds)  # the cost, apart: metrics.json holds what a rerun reproduces
        return out

    def _signal(self, model, data, device, names, run_dir, samples: int = 256) -> dict:
        x, _ = subset(data, "train", samples, self.seed, device)
        rows = signal.signal_propagation(model, x)
        for row, name in zip(rows, ["input", *names]):
            row["name"] = name
        write_rows(run_dir / "signal.csv", rows)
        plot_signal(rows, run_dir / "signal.png", run_dir.name)
        var = [row["stream_var"] for row in rows]
        ratios = [row["ratio"] for row in rows[1:] if math.isfinite(row["ratio"])]
        growth = var[-1] / var[0] if var[0] > 0 else math.nan
        first = [row["stream_var"] for row in rows[1:] if row["name"].split(".")[0] == names[0].split(".")[0]]
        return {"stream_var_growth": growth, "stage1_var_growth": first[-1] / var[0] if var[0] > 0 else math.nan,
                "var_factor_per_block": growth ** (1 / (len(var) - 1)) if growth > 0 else math.nan,
                "stream_var_last": var[-1], "branch_ratio_mean": statistics.fmean(ratios) if ratios else math.nan}

    def _shattered(self, model, data, device, names, run_dir, points: int = 256, lines: int = 4,
                   max_lag: int = 64, calibration: int = 256) -> dict:
        x, y = subset(data, "train", max(calibration, 2 * lines), self.seed, device)
        curves, profiles = [], []
        for i in range(lines):
            grads = shattered.line_gradients(model, x[2 * i], x[2 * i + 1], points, x[:calibration], self.seed)
            curves.append(shattered.autocorrelation(grads, max_lag))
            direction = (x[2 * i + 1] - x[2 * i]).flatten().to(grads)
            profiles.append((grads @ direction).tolist())  # d output / d t along the line
        rows = [{"lag": row["lag"], "corr": statistics.fmean(c[j]["corr"] for c in curves),
                 "corr_min": min(c[j]["corr"] for c in curves), "corr_max": max(c[j]["corr"] for c in curves),
                 "centred": statistics.fmean(c[j]["centred"] for c in curves)} for j, row in enumerate(curves[0])]
        write_rows(run_dir / "shattered.csv", rows)
        plot_shattered(rows, profiles[0], run_dir / "shattered.png", run_dir.name)
        return {"neighbour_corr": rows[1]["corr"], "neighbour_corr_centred": rows[1]["centred"]}

    def _lesion(self, model, data, device, names, run_dir, samples: int = 1024, draws: int = 5, reorder: bool = True,
                recalibrate_bn: bool = False) -> dict:
        x, y = subset(data, "test", samples, self.seed, device)
        batches = list(zip(x.split(512), y.split(512)))
        recal = list(subset(data, "train", 2048, self.seed, device)[0].split(512)) if recalibrate_bn else None
        rows = lesion.lesion_study(model, batches, draws, self.seed, reorder, recal)
        shapes = lesion.block_shapes(model, x)
        for row in rows:
            row["name"] = names[row["k"]] if row["kind"] == "single" else ""
        write_rows(run_dir / "lesion.csv", rows)
        plot_lesion(rows, names, shapes, data.info.num_classes, run_dir / "lesion.png", run_dir.name)
        single = [r["error"] for r in rows if r["kind"] == "single"]
        inner = [e for e, (cin, cout) in zip(single, shapes) if cin == cout and math.isfinite(e)]
        down = [e for e, (cin, cout) in zip(single, shapes) if cin != cout and math.isfinite(e)]
        by_k = _mean_by(rows, "random")
        removable = max(by_k, default=0)
        swaps = _mean_by(rows, "reorder")
        return {"error_intact": rows[0]["error"], "error_single_mean": _mean(inner),
                "error_single_max": max(inner, default=math.nan), "error_downsample_mean": _mean(down),
                "error_k_quarter": by_k.get(round(removable / 4), math.nan),
                "error_k_half": by_k.get(round(removable / 2), math.nan),
                "reorder_error_quarter": swaps.get(round(max(swaps, default=0) / 4), math.nan),
                "removable": removable}

    def _path_length(self, model, data, device, names, run_dir, samples: int = 4, batch: int = 128,
                     fraction: float = 0.9) -> dict:
        if any(b.merge == "none" for _, b in residual_blocks(model)):
            return {}  # one path: nothing to split
        x, y = subset(data, "test", batch, self.seed, device)
        raw = paths.path_norms(model, x, y, samples, self.seed)
        n = len(names)
        norms = [[r["norm"] for r in raw if r["k"] == k] for k in range(n + 1)]
        share = paths.shares([statistics.fmean(v) for v in norms])
        counts = paths.shares([1.0] * (n + 1))  # the fraction of all paths that have length k
        rows = [{"k": k, "norm_mean": statistics.fmean(v), "norm_min": min(v), "norm_max": max(v), "share": s,
                 "path_fraction": c} for k, (v, s, c) in enumerate(zip(norms, share, counts))]
        write_rows(run_dir / "path_length.csv", rows)
        lo, hi = paths.carrying(share, fraction)
        typical = paths.carrying(counts, fraction)
        plot_paths(rows, (lo, hi), typical, fraction, run_dir / "path_length.png", run_dir.name)
        return {"lo": lo, "hi": hi, "peak": max(range(n + 1), key=share.__getitem__), "typical_lo": typical[0],
                "typical_hi": typical[1], "blocks": n}

    def _cka(self, model, data, device, names, run_dir, samples: int = 1024, batch: int = 256,
             threshold: float = 0.9) -> dict:
        x, _ = subset(data, "test", samples, self.seed, device)
        matrix = cka.block_cka(model, x, batch)
        n = len(names)
        write_rows(run_dir / "cka.csv", [{"i": i, "j": j, "block_i": names[i], "block_j": names[j],
                                           "cka": float(matrix[i, j])} for i in range(n) for j in range(n)])
        plot_cka(matrix, names, run_dir / "cka.png", run_dir.name)
        adjacent = [float(matrix[i, i + 1]) for i in range(n - 1)]
        return {"adjacent_mean": _mean(adjacent), "first_last": float(matrix[0, -1]),
                "block_structure": cka.block_structure(matrix, threshold)}


def _mean(values) -> float:
    values = [v for v in values if math.isfinite(v)]
    return statistics.fmean(values) if values else math.nan


def _mean_by(rows, kind) -> dict[int, float]:
    """{k: mean error over the draws} of the rows of `kind`."""
    ks = sorted({r["k"] for r in rows if r["kind"] == kind})
    return {k: _mean(r["error"] for r in rows if r["kind"] == kind and r["k"] == k) for k in ks}
