"""Gradient flow: the gradient norm of every residual block's parameters, and its figure."""
import math
from pathlib import Path

import lightning as L
import torch
from matplotlib.figure import Figure
from torch import nn

from reslab.callbacks.blocks import log_metrics, residual_blocks


class GradientFlow(L.Callback):
    """The gradient norm of each residual block's parameters, in forward order.

    Read on every `every_n_steps`-th optimizer step (gradients are unscaled and accumulated by then) and once more
    for the last step. metrics.json gets the first logged step (step 0, the initialisation), the last step, and
    the first step's spread; the end of training writes `grad_flow.png` into the run folder (Lightning's
    `default_root_dir`), titled `title`.
    """

    def __init__(self, every_n_steps: int = 20, histograms: bool = False, title: str = ""):
        self.every_n_steps, self.title, self.histograms = every_n_steps, title, histograms
        self.blocks: list[tuple[str, list[nn.Parameter]]] = []
        self.first: list[float] | None = None
        self.last: list[float] | None = None
        self.first_step = self.last_step = -1
        self._pending: torch.Tensor | list | None = None
        self._pending_step = -1

    def on_fit_start(self, trainer, pl_module):
        self.blocks = [(name, list(block.parameters())) for name, block in residual_blocks(pl_module.model)]

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if self.blocks and trainer.global_step % self.every_n_steps == 0:
            self._record(trainer, trainer.global_step, self._norms())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        """Lightning clears the gradients before the end-of-epoch validation: keep the norms of an epoch's last
        step (on the device, no sync) for `on_train_end`."""
        if self.blocks and (batch_idx + 1 == trainer.num_training_batches or trainer.should_stop):
            self._pending, self._pending_step = self._norms(), trainer.global_step - 1

    def on_train_end(self, trainer, pl_module):
        if self.first is None:
            return
        grads_left = any(p.grad is not None for _, params in self.blocks for p in params)
        norms, step = (self._norms(), trainer.global_step - 1) if grads_left else (self._pending, self._pending_step)
        if norms is not None and self.last_step != step:
            self._record(trainer, step, torch.as_tensor(norms))
        if trainer.is_global_zero:
            lines = {f"step {self.first_step} (init)": self.first}
            if self.last is not None:
                lines[f"step {self.last_step} (end)"] = self.last
            plot_grad_flow(Path(trainer.default_root_dir) / "grad_flow.png", lines, [name for name, _ in self.blocks],
                           self.title)

    def _norms(self) -> torch.Tensor:
        return torch.stack([_grad_norm(params) for _, params in self.blocks])

    def _record(self, trainer, step: int, norms: torch.Tensor) -> None:
        norms = norms.tolist()
        log_metrics(trainer, {f"grad_norm/{name}": v for (name, _), v in zip(self.blocks, norms)}, step)
        if self.histograms:
            self._histograms(trainer, step)
        if self.first is None:
            self.first, self.first_step = norms, step
        self.last, self.last_step = norms, step

    def state_dict(self):
        """Kept in checkpoints (saved at epoch ends), so that a resumed run reports the initialisation's gradients
        and, when it was killed after its last epoch, the last step's."""
        pending = self._pending.tolist() if isinstance(self._pending, torch.Tensor) else self._pending
        return {"first": self.first, "first_step": self.first_step, "last": self.last, "last_step": self.last_step,
                "pending": pending, "pending_step": self._pending_step}

    def load_state_dict(self, state_dict):
        self.first, self.first_step = state_dict["first"], state_dict["first_step"]
        self.last, self.last_step = state_dict.get("last"), state_dict.get("last_step", -1)
        self._pending, self._pending_step = state_dict.get("pending"), state_dict.get("pending_step", -1)

    def _histograms(self, trainer, step: int) -> None:
        for logger in trainer.loggers:
            if hasattr(logger.experiment, "add_histogram"):
                for name, params in self.blocks:
                    grads = [p.grad.flatten() for p in params if p.grad is not None]
                    if grads:
                        logger.experiment.add_histogram(f"grad_hist/{name}", torch.cat(grads), step)

    def summary(self) -> dict:
        if self.first is None:
            return {}
        first = self.first
        return {"grad/first_step": first, "grad/last_step": self.last,
                "grad/spread": _ratio(max(first), min(first)), "grad/first_last": _ratio(first[0], first[-1])}


def _grad_norm(params: list[nn.Parameter]) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(math.nan, device=params[0].device)
    return torch.nn.utils.get_total_norm(grads).float()


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.inf


def plot_grad_flow(path: Path, lines: dict[str, list[float]], block_names: list[str] | None = None,
                   title: str = "") -> None:
    """Gradient norm against block index on a log scale, one line per entry of `lines`; dotted verticals mark
    where a new stage starts (read from `block_names`, "stageK.blockJ")."""
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    for label, norms in lines.items():
        ax.semilogy(range(len(norms)), norms, marker="o", markersize=3, label=label)
    stages = [name.split(".")[0] for name in block_names or []]
    for i in range(1, len(stages)):
        if stages[i] != stages[i - 1]:
            ax.axvline(i - 0.5, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="residual block (input → output)", ylabel="gradient norm of the block's parameters",
           title=title or "gradient flow")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
