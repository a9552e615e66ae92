"""`SharedCpu`: one line when the machine fills up after a job started (a second job begun beside it). A job chooses
its torch threads once, as it starts, from the cores free then (`reslab.host.choose_threads`); a job started later
sees this one and takes what is left, but this one cannot know of it. So, over each stretch of training of at
least `window_s` seconds (read at the end of a training epoch), it reads the cores other processes kept busy: the
busy share of /proc/stat's jiffies on the CPUs it may use, less its own CPU time. When those and its threads ask
for more than the cores it may use, it says so once, and keeps its threads: a run's numbers follow its thread
count (metrics.json `threads` reproduces them), which a change mid-run would make depend on the neighbours.
Off for DDP ranks (they share the cores by count) and off the CPU."""
import logging

import lightning as L
import torch

from reslab import host

log = logging.getLogger("reslab")


class SharedCpu(L.Callback):
    def __init__(self, window_s: float = 2.0):
        self.window_s = window_s
        self.start: tuple | None = None
        self.line: str | None = None  # what was said, once

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        watched = pl_module.device.type == "cpu" and trainer.world_size == 1 and trainer.is_global_zero
        start = host.reading() if watched else None
        self.start = start if start and start[2] else None  # None without /proc/stat

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.start is None or self.line is not None:
            return
        now = host.reading()
        wall = now[0] - self.start[0]
        if wall < self.window_s:
            return
        others = host.others_busy(self.start[2], now[2], now[1] - self.start[1], wall, host.allowed_cpus())
        self.start = now
        self.line = host.crowded(torch.get_num_threads(), others, host.usable_cores())
        if self.line is not None:
            log.warning(self.line)  # on the console too (reslab.entry's handler) and in train.log
