"""A callback that SIGKILLs its own training process at a chosen point: fault injection through the config, as a
user adds any callback (`+callbacks.kill._target_=faults.KillAt +callbacks.kill.point=...`, with tests/ on
PYTHONPATH). SIGKILL: no handler, no clean-up, as a crash, an out-of-memory kill or a pulled plug. `sig` sends
another signal instead (SIGTERM, SIGINT: the process handles it). Each folder is hit once (a marker file
`.killed` in the run folder): the resume of a killed run, with the same config, runs to its end."""
import os
import signal
from pathlib import Path

import lightning as L


class KillAt(L.Callback):
    """point: "batch" (training batch `batch` of epoch `epoch`), "checkpoint" (as epoch `epoch`'s checkpoint is
    being saved), "test" (the first test batch)."""

    def __init__(self, point: str, epoch: int = 1, batch: int = 2, sig: str = "SIGKILL"):
        self.point, self.epoch, self.batch, self.sig = point, epoch, batch, sig
        self.folder = None

    def setup(self, trainer, pl_module, stage):
        self.folder = Path(trainer.default_root_dir)

    def _die(self):
        marker = self.folder / ".killed"
        if marker.exists():
            return
        marker.touch()
        os.kill(os.getpid(), getattr(signal, self.sig))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.point == "batch" and trainer.current_epoch == self.epoch and batch_idx == self.batch:
            self._die()

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        if self.point == "checkpoint" and trainer.current_epoch == self.epoch:
            self._die()

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if self.point == "test":
            self._die()
