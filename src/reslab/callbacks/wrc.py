"""The learned scalars of weighted residual connections (WRC, ReZero) over training."""
import lightning as L
import torch

from reslab.callbacks.blocks import log_metrics, residual_blocks
from reslab.models.blocks import ResidualBlock


class WRCWeights(L.Callback):
    """alpha and beta of every weighted block (WRC, ReZero), logged every `every_n_steps` optimizer steps and at the
    end; their final values go to metrics.json. Does nothing in networks without weighted blocks."""

    def __init__(self, every_n_steps: int):
        self.every_n_steps = every_n_steps
        self.blocks: list[tuple[str, ResidualBlock]] = []
        self.final: list[list[float]] = []

    def on_fit_start(self, trainer, pl_module):
        self.blocks = [(name, b) for name, b in residual_blocks(pl_module.model) if b.merge == "weighted"]

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if self.blocks and trainer.global_step % self.every_n_steps == 0:
            self._record(trainer, trainer.global_step)

    def on_train_end(self, trainer, pl_module):
        if self.blocks:
            self._record(trainer, trainer.global_step)

    def _record(self, trainer, step: int) -> None:
        self.final = torch.stack([torch.stack([b.alpha, b.beta]) for _, b in self.blocks]).detach().tolist()
        metrics = {}
        for (name, _), (alpha, beta) in zip(self.blocks, self.final):
            metrics[f"wrc/alpha/{name}"], metrics[f"wrc/beta/{name}"] = alpha, beta
        log_metrics(trainer, metrics, step)

    def state_dict(self):
        return {"final": self.final}

    def load_state_dict(self, state_dict):
        self.final = state_dict["final"]

    def summary(self) -> dict:
        if not self.final:
            return {}
        return {"wrc/alpha": [a for a, _ in self.final], "wrc/beta": [b for _, b in self.final]}
