"""Which modules are the residual blocks, what they are called in logs, how the callbacks log, and the state of a
callback that measures once (kept in last.ckpt, so a resumed run reports it)."""
import re

import lightning as L
from torch import nn

from reslab.models.blocks import ResidualBlock

_STAGE_BLOCK = re.compile(r"stages\.(\d+)\.(?:.+\.)?(\d+)$")


def block_name(module_name: str) -> str:
    """"stages.0.3" or "stages.0.blocks.3" (CSP) -> "stage1.block3"; other names are kept."""
    match = _STAGE_BLOCK.search(module_name)
    return f"stage{int(match[1]) + 1}.block{match[2]}" if match else module_name


def residual_blocks(model: nn.Module) -> list[tuple[str, ResidualBlock]]:
    """(name, block) of every ResidualBlock in forward order; stem and head are not blocks."""
    return [(block_name(name), m) for name, m in model.named_modules()
            if isinstance(m, ResidualBlock)]


def log_metrics(trainer: L.Trainer, metrics: dict, step: int) -> None:
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=step)


class MeasuredOnce(L.Callback):
    """A callback whose measurement, `self.result` ({metrics.json key: value}), is kept in the checkpoints and
    reported by `summary()`: a run killed after it measured resumes to the same metrics.json."""

    def __init__(self) -> None:
        self.result: dict = {}

    def state_dict(self):
        return {"result": self.result}

    def load_state_dict(self, state_dict):
        self.result = state_dict["result"]

    def summary(self) -> dict:
        return self.result
