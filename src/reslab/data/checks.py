"""The data catalog and its cheap checks: which data sets exist, which task each serves, whether their files are
there. Value rules of the `dataset` keys are in the config schema (reslab.config.schema).

Imports no torch: it runs before the heavy imports, so a typo or a missing folder costs a second.
"""
from collections.abc import Mapping

from reslab.data.files import check_files
from reslab.errors import ConfigError

# Every data set of the `dataset` config group (conf/dataset/<name>.yaml).
DATASETS = ("digits", "digits_flat", "wine", "breast_cancer", "cifar10", "cifar100", "mnist", "fashion_mnist",
            "imagefolder", "synthetic", "shapes", "voc", "coco")
# The data sets of task=detection (reslab/data/<name>.py); every other set is for classification.
DETECTION_SETS = ("shapes", "voc", "coco")
# The sets of feature vectors (the residual MLP family); `synthetic` is one with dataset.shape=vector.
VECTOR_SETS = ("digits_flat", "wine", "breast_cancer")


def check_dataset(cfg: Mapping) -> None:
    """Raise ConfigError (one line) for the first problem of a `dataset` config beyond its values' types and
    ranges: the name, the split fractions together, the files."""
    name = cfg.get("name")
    if name not in DATASETS:
        raise ConfigError(f"dataset.name={name!r} is unknown: choose one of {', '.join(DATASETS)}")
    if cfg.get("val_fraction", 0) + cfg.get("test_fraction", 0) >= 1:
        raise ConfigError(f"dataset.val_fraction + dataset.test_fraction = "
                          f"{cfg['val_fraction'] + cfg['test_fraction']} leaves no training data: keep it below 1")
    check_files(name, cfg)


def check_task_dataset(task: str, dataset: str) -> None:
    """task=detection takes only the detection sets, task=classification only the others."""
    valid = DETECTION_SETS if task == "detection" else tuple(n for n in DATASETS if n not in DETECTION_SETS)
    if dataset not in valid:
        raise ConfigError(f"dataset={dataset} is not a {task} data set: choose one of {', '.join(valid)}")


def check_num_classes(expected: int | None, found: int, dataset: str) -> None:
    """The top-level `num_classes` (when given) must agree with what the loaded data set holds."""
    if expected is not None and expected != found:
        raise ConfigError(f"num_classes={expected} disagrees with dataset={dataset}, which has {found} classes: "
                          f"set num_classes={found} or null")
