"""A callback that SIGKILLs its own training process at a chosen point: fault injection through the config, as a
user adds any callback (`+callbacks.kill._target_=faults.KillAt +callbacks.kill.point=...`, with tests/ on
PYTHONPATH). SIGKILL: no handler, no clean-up, as a crash, an out-of-memory kill or a pulled plug."""
import os
import signal

import lightning as L


class KillAt(L.Callback):
    """point: "batch" (training batch `batch` of epoch `epoch`), "checkpoint" (as epoch `epoch`'s checkpoint is
    being saved), "test" (the first test batch)."""

    def __init__(self, point: str, epoch: int = 1, batch: int = 2):
        self.point, self.epoch, self.batch = point, epoch, batch

    @staticmethod
    def _die():
        os.kill(os.getpid(), signal.SIGKILL)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.point == "batch" and trainer.current_epoch == self.epoch and batch_idx == self.batch:
            self._die()

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        if self.point == "checkpoint" and trainer.current_epoch == self.epoch:
            self._die()

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if self.point == "test":
            self._die()
