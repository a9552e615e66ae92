"""The divergence guard: a non-finite training loss stops the run (`reslab.run` then records it `diverged`)."""
import lightning as L
import torch


class StopOnDivergence(L.Callback):
    """Stops training after a non-finite loss.

    The step of the first non-finite loss is kept on the device and read back only every
    `trainer.log_every_n_steps` steps and at the end of each epoch, so that a GPU is not synchronised every step.
    """

    def __init__(self):
        self.diverged_at: int | None = None
        self._first_bad: torch.Tensor | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = (outputs["loss"] if isinstance(outputs, dict) else outputs).detach()
        if self._first_bad is None:
            self._first_bad = torch.full((), -1, dtype=torch.long, device=loss.device)
        bad = ~torch.isfinite(loss).all() & (self._first_bad < 0)
        self._first_bad = torch.where(bad, trainer.global_step, self._first_bad)
        if trainer.global_step % trainer.log_every_n_steps == 0 or batch_idx + 1 == trainer.num_training_batches:
            first_bad = int(self._first_bad)
            if first_bad >= 0:
                self.diverged_at = first_bad
                trainer.should_stop = True

    def summary(self) -> dict:
        if self.diverged_at is None:
            return {}
        return {"error": f"non-finite training loss at step {self.diverged_at}"}
