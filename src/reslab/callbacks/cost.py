"""What a run costs: forward FLOPs per sample, training throughput, peak memory."""
import math
import resource
import sys

import lightning as L
import torch

from reslab.callbacks.blocks import log_metrics
from reslab.clock import now
from reslab.models.describe import describe
from reslab.models.network import ResidualNet


class Cost(L.Callback):
    """Forward FLOPs per sample, training throughput and peak memory of the run.

    Throughput counts training batches only (the clock stops for validation) and leaves out the warm-up: the
    first epoch when more than one is trained, else the first `WARMUP_BATCHES` batches. The clock reads are the
    only device syncs, a few per epoch. Kept in checkpoints: a resumed run adds its own samples and seconds to
    those of the process it continues (and its peak memory is the larger of the two).
    """

    WARMUP_BATCHES = 3

    def __init__(self):
        self.flops = math.nan
        self.peak_mem_mb = math.nan
        self.samples, self.seconds = 0, 0.0
        self._batches, self._warmup, self._started = 0, None, None
        self._restored_peak, self._device = 0.0, None

    def on_fit_start(self, trainer, pl_module):
        self._device = pl_module.device
        model = pl_module.model
        if isinstance(model, ResidualNet):  # other models (a detector) keep flops = NaN
            self.flops = describe(model, trainer.datamodule.info.input_shape)["flops"]
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self._warmup is None:
            per_epoch = trainer.num_training_batches
            if not math.isfinite(per_epoch):
                per_epoch = self.WARMUP_BATCHES
            self._warmup = per_epoch if trainer.max_epochs != 1 else min(self.WARMUP_BATCHES, per_epoch // 2)
        if self._started is None and self._batches >= self._warmup:
            self._started = now(pl_module.device)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._batches += 1
        if self._started is not None:
            self.samples += len(batch[0] if isinstance(batch, (tuple, list)) else batch)

    def on_validation_epoch_start(self, trainer, pl_module):
        self._stop(pl_module)

    def on_train_epoch_end(self, trainer, pl_module):
        self._stop(pl_module)
        if self.seconds:
            log_metrics(trainer, {"cost/throughput": self.throughput}, trainer.global_step)

    def on_train_end(self, trainer, pl_module):
        self.peak_mem_mb = max(peak_memory_mb(pl_module.device), self._restored_peak)

    def state_dict(self):
        return {"samples": self.samples, "seconds": self.seconds, "flops": self.flops,
                "peak_mem_mb": max(peak_memory_mb(self._device), self._restored_peak) if self._device else math.nan}

    def load_state_dict(self, state_dict):
        self.samples, self.seconds, self.flops = state_dict["samples"], state_dict["seconds"], state_dict["flops"]
        self._restored_peak = state_dict["peak_mem_mb"] if math.isfinite(state_dict["peak_mem_mb"]) else 0.0
        self.peak_mem_mb = state_dict["peak_mem_mb"]
        self._warmup = self.WARMUP_BATCHES  # a resumed process warms up again

    def _stop(self, pl_module) -> None:
        if self._started is not None:
            self.seconds += now(pl_module.device) - self._started
            self._started = None

    @property
    def throughput(self) -> float:
        """Training samples per second after the warm-up (NaN when nothing was timed)."""
        return self.samples / self.seconds if self.seconds else math.nan

    def summary(self) -> dict:
        return {"flops": self.flops, "throughput": self.throughput, "peak_mem_mb": self.peak_mem_mb}


def peak_memory_mb(device: torch.device) -> float:
    """CUDA: the most memory tensors held on `device`; CPU: the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
