"""Run bookkeeping callbacks: the per-epoch history that metrics.json carries, and the divergence guard."""
import math

import lightning as L
import torch

TRACKED = ("train/loss_epoch", "train/acc", "val/loss", "val/acc")


class History(L.Callback):
    """Records the tracked epoch metrics after each training epoch (validation has run by then)."""

    def __init__(self):
        self.history: list[dict] = []

    def on_train_epoch_end(self, trainer, pl_module):
        row = {"epoch": trainer.current_epoch}
        for key in TRACKED:
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


class StopOnDivergence(L.Callback):
    """Stops training at the first non-finite loss; the run is then recorded with status `diverged`."""

    def __init__(self):
        self.diverged_at: int | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if not torch.isfinite(loss).all():
            self.diverged_at = trainer.global_step
            trainer.should_stop = True

    def summary(self) -> dict:
        if self.diverged_at is None:
            return {}
        return {"status": "diverged", "error": f"non-finite training loss at step {self.diverged_at}"}
