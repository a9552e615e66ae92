"""Diagnostics of every run (config group `diagnostics`): gradient flow, WRC weights, cost, activation statistics.

Lightning callbacks whose `summary()` adds keys to metrics.json. Gradient norms and WRC weights are read only
every `every_n_steps` optimizer steps, stacked into one tensor and fetched with one `.tolist()`, so the device is
synchronised only on those steps; `diagnostics=off` builds no callback at all.
"""
from pathlib import Path

import lightning as L

from reslab.diagnostics.activations import ActivationStats
from reslab.diagnostics.blocks import block_name, original_module, residual_blocks
from reslab.diagnostics.cost import Cost, peak_memory_mb
from reslab.diagnostics.gradients import GradientFlow, plot_grad_flow
from reslab.diagnostics.wrc import WRCWeights
from reslab.errors import ConfigError

__all__ = ["ActivationStats", "Cost", "GradientFlow", "WRCWeights", "block_name", "diagnostics_callbacks",
           "original_module", "peak_memory_mb", "plot_grad_flow", "residual_blocks"]


def diagnostics_callbacks(cfg, run_dir: Path) -> list[L.Callback]:
    """The callbacks `cfg.diagnostics` asks for ([] when disabled); grad_flow.png goes to `run_dir`."""
    d = cfg.diagnostics
    if not d.enabled:
        return []
    n = d.every_n_steps
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"diagnostics.every_n_steps={n!r} is invalid: expected an integer > 0")
    callbacks = [GradientFlow(n, Path(run_dir) / "grad_flow.png", f"{cfg.model.block}, depth {cfg.depth}",
                              histograms=d.histograms),
                 WRCWeights(n), Cost()]
    return [*callbacks, ActivationStats()] if d.activations else callbacks
