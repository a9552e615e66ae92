"""LightningModules, one module per task; each exposes `build(cfg) -> (datamodule, task)`."""
import importlib

TASKS = ("classification", "detection")


def build(cfg):
    """The datamodule and LightningModule of `cfg.task.name` (validated against TASKS beforehand)."""
    return importlib.import_module(f"reslab.tasks.{cfg.task.name}").build(cfg)
