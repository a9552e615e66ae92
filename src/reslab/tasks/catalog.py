"""The task catalogue: each task of `task.name`, declared once with its builder and the validation metrics it can
monitor (the first is its default); `test_key` names a monitor's test-split counterpart.

Pure Python (no torch, no Lightning): the config validator, the sweep summary and the run records read it; the
builder is imported when a run builds its task.
"""
from collections.abc import Callable
from dataclasses import dataclass

from reslab.catalog import Catalog


@dataclass(frozen=True)
class Task:
    name: str
    build: str | Callable  # "package.module:function": cfg -> (LightningDataModule, LightningModule)
    monitors: tuple[str, ...]  # the validation metrics a run may monitor (task.monitor); the first is the default
    compiles: bool = True  # task.compile=true is supported

    @property
    def monitor(self) -> str:
        return self.monitors[0]


TASKS: Catalog[Task] = Catalog("task", "task.name")
for _task in (Task("classification", "reslab.tasks.classification:build", ("val/acc", "val/acc_top5")),
              Task("detection", "reslab.tasks.detection:build", ("val/map_50", "val/map"), compiles=False)):
    TASKS.add(_task.name, _task)

DEFAULT_MONITOR = TASKS.get("classification").monitor  # what a record without a `monitor` was monitored by


def test_key(monitor: str) -> str:
    """The test split's counterpart of a validation metric: val/acc -> test/acc."""
    return "test/" + monitor.removeprefix("val/")
