"""Run bookkeeping callbacks: the per-epoch history that metrics.json carries, and the divergence guard."""
import math

import lightning as L
import torch

from reslab.data.batches import mix_seed

TRACKED = ("train/loss_epoch", "train/acc", "val/loss", "val/acc")


class History(L.Callback):
    """Records the tracked epoch metrics and the task's monitored one (e.g. val/map_50) after each training epoch
    (validation has run by then)."""

    def __init__(self, monitor: str):
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


class StopOnDivergence(L.Callback):
    """Stops training after a non-finite loss; the run is then recorded with status `diverged`.

    The step of the first non-finite loss is kept on the device and read back only every `every_n_steps` steps
    and at the end of each epoch, so that a GPU is not synchronised every step.
    """

    def __init__(self, every_n_steps: int = 1):
        self.every_n_steps = every_n_steps
        self.diverged_at: int | None = None
        self._first_bad: torch.Tensor | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = (outputs["loss"] if isinstance(outputs, dict) else outputs).detach()
        if self._first_bad is None:
            self._first_bad = torch.full((), -1, dtype=torch.long, device=loss.device)
        bad = ~torch.isfinite(loss).all() & (self._first_bad < 0)
        self._first_bad = torch.where(bad, trainer.global_step, self._first_bad)
        if trainer.global_step % self.every_n_steps == 0 or batch_idx + 1 == trainer.num_training_batches:
            first_bad = int(self._first_bad)
            if first_bad >= 0:
                self.diverged_at = first_bad
                trainer.should_stop = True

    def summary(self) -> dict:
        if self.diverged_at is None:
            return {}
        return {"status": "diverged", "error": f"non-finite training loss at step {self.diverged_at}"}


class SeedEachEpoch(L.Callback):
    """Reseeds torch's global RNG from (seed, epoch) at every epoch start, so a run resumed from an epoch-end
    checkpoint replays exactly what the uninterrupted run did (dropout, any other global-RNG use)."""

    def __init__(self, seed: int):
        self.seed = seed

    def on_train_epoch_start(self, trainer, pl_module):
        torch.manual_seed(mix_seed(self.seed, trainer.current_epoch, -1))  # -1: apart from the data's streams
