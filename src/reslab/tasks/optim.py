"""The optimizer and schedule of a task, from the `optim` and `scheduler` config groups (`_partial_` targets)."""
import inspect

from hydra.utils import instantiate
from torch import nn


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices and kernels only: BatchNorm, biases and scalar gates (ndim <= 1) get none."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build(model: nn.Module, optim: dict, scheduler: dict | None, lr: float, total_steps: int,
          steps_per_epoch: float):
    """(optimizer, schedule or None): `optim` (a `_partial_` target) over the parameter groups of `model` at
    learning rate `lr`, and `scheduler` called with the optimizer and the sizes its signature asks for."""
    optimizer = instantiate(optim)(parameter_groups(model, optim.get("weight_decay", 0.0)), lr=lr)
    if scheduler is None:
        return optimizer, None
    make = instantiate(scheduler)
    sizes = {"total_steps": total_steps, "steps_per_epoch": steps_per_epoch}
    wanted = inspect.signature(make).parameters
    return optimizer, make(optimizer, **{k: v for k, v in sizes.items() if k in wanted})


def configure(module, optim: dict, scheduler: dict | None, lr: float):
    """What `configure_optimizers` returns for a task whose network is `module.model`, at learning rate `lr` (the
    module's, which Lightning's learning-rate finder may change), the schedule stepped every optimizer step and
    sized from the trainer's step count."""
    trainer = module.trainer
    total = max(1, int(trainer.estimated_stepping_batches))
    optimizer, schedule = build(module.model, optim, scheduler, lr, total, total / max(1, trainer.max_epochs or 1))
    if schedule is None:
        return optimizer
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
