"""Run bookkeeping: the per-epoch history that metrics.json carries, and the per-epoch reseeding of the global RNG."""
import math

import lightning as L
import torch

from reslab.data.batches import mix_seed
from reslab.tasks.catalog import DEFAULT_MONITOR

TRACKED = ("train/loss_epoch", "train/acc", "val/loss", "val/acc")


class History(L.Callback):
    """After each training epoch (validation has run by then): the tracked epoch metrics and the task's monitored
    one (e.g. val/map_50). Only values that the same seed reproduces: wall-clock times are in TensorBoard's events
    and metrics.json's wall_time_s / throughput."""

    def __init__(self, monitor: str = DEFAULT_MONITOR):
        self.history: list[dict] = []
        self.tracked = tuple(dict.fromkeys((*TRACKED, monitor)))

    def on_train_epoch_end(self, trainer, pl_module):
        row = {"epoch": trainer.current_epoch}
        for key in self.tracked:
            if key in trainer.callback_metrics:
                row[key.removesuffix("_epoch")] = float(trainer.callback_metrics[key])
        self.history.append(row)

    def state_dict(self):
        return {"history": self.history}

    def load_state_dict(self, state_dict):
        self.history = list(state_dict["history"])

    def summary(self) -> dict:
        last = self.history[-1] if self.history else {}
        return {"train/loss": last.get("train/loss", math.nan), "val/loss": last.get("val/loss", math.nan),
                "history": self.history}


class SeedEachEpoch(L.Callback):
    """Reseeds torch's global RNG from (seed, epoch) at every epoch start, so a run resumed from an epoch-end
    checkpoint replays exactly what the uninterrupted run did (dropout, any other global-RNG use)."""

    def __init__(self, seed: int):
        self.seed = seed

    def on_train_epoch_start(self, trainer, pl_module):
        torch.manual_seed(mix_seed(self.seed, trainer.current_epoch, -1))  # -1: apart from the data's streams
