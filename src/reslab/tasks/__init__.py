"""LightningModules, one module per task; each exposes `build(cfg) -> (datamodule, task)`."""
from reslab.tasks import classification, detection

BUILDERS = {"classification": classification.build, "detection": detection.build}


def build(cfg):
    """The datamodule and LightningModule of `cfg.task.name` (validated against the schema's TASKS beforehand)."""
    return BUILDERS[cfg.task.name](cfg)
