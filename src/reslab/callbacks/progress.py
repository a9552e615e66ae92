"""What a run shows while it trains: a progress bar on a terminal, one line per epoch everywhere else.

Either way each epoch leaves one line (`epoch 3/30: train/loss 0.12 val/loss 0.21 val/acc 0.953 (1.2 s)`) in the
run's train.log, never a progress-bar frame. `progress_bar()` picks the display from where stderr goes.
"""
import logging
import sys
import time

from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar

log = logging.getLogger("reslab")  # propagates to Hydra's file handler (train.log), not to the console
SHOWN = ("train/loss_epoch", "val/loss", "val/acc", "val/map_50")


def epoch_line(trainer, seconds: float) -> str:
    metrics = trainer.callback_metrics
    shown = " ".join(f"{k.removesuffix('_epoch')} {float(metrics[k]):.4g}" for k in SHOWN if k in metrics)
    return f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {shown} ({seconds:.1f} s)"


class _EpochClock:
    _epoch_start = 0.0

    def on_train_epoch_start(self, trainer, pl_module):
        super().on_train_epoch_start(trainer, pl_module)
        self._epoch_start = time.perf_counter()

    def _line(self, trainer) -> str:
        line = epoch_line(trainer, time.perf_counter() - self._epoch_start)
        log.info(line)
        return line


class Bar(_EpochClock, TQDMProgressBar):
    """Lightning's tqdm bar, refreshed every `trainer.log_every_n_steps` steps (each refresh reads the loss off
    the device), plus the epoch's line in train.log."""

    def on_train_start(self, trainer, pl_module):
        self._refresh_rate = trainer.log_every_n_steps
        super().on_train_start(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module):
        super().on_train_epoch_end(trainer, pl_module)
        if trainer.is_global_zero:
            self._line(trainer)


class EpochLines(_EpochClock, ProgressBar):
    """No bar: one line per epoch on stderr and in train.log (for log files, SLURM output, CI)."""

    def __init__(self):
        super().__init__()
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_end(self, trainer, pl_module):
        if self._enabled and trainer.is_global_zero:
            print(self._line(trainer), file=sys.stderr, flush=True)


def progress_bar() -> ProgressBar:
    """A tqdm bar when stderr is a terminal, else one line per epoch."""
    return Bar() if sys.stderr.isatty() else EpochLines()
