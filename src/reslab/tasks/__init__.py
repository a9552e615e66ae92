"""LightningModules, one module per task (classification, detection); the catalogue of tasks is
`reslab.tasks.catalog`. `build(cfg) -> (datamodule, task)` builds the task `cfg.task.name` names."""
from reslab.catalog import resolve
from reslab.tasks.catalog import TASKS


def build(cfg):
    """The datamodule and LightningModule of `cfg.task.name` (validated against the task catalogue beforehand)."""
    return resolve(TASKS.get(cfg.task.name).build)(cfg)
