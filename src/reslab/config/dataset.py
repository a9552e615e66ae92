"""The `dataset` config against the data set catalogue (reslab.data.catalog): the name, the task it serves, the
split fractions together, its files (the data-file checks of reslab.data.files), and the top-level num_classes
against the loaded data. Value rules of the `dataset` keys are in the config schema (reslab.config.schema).

Imports no torch: it runs before the heavy imports, so a typo or a missing folder costs a second.
"""
from collections.abc import Mapping

from reslab.config.rules import entry
from reslab.data.catalog import DATASETS, DataSet, split_sizes
from reslab.data.files import check_listed_files
from reslab.errors import ConfigError


def check_dataset(cfg: Mapping) -> DataSet:
    """Raise ConfigError (one line) for the first problem of a `dataset` config beyond its values' types and
    ranges: the name, the split fractions together, the files. Returns the data set's catalogue entry."""
    spec = entry(DATASETS, cfg.get("name"), cfg.get("module"))
    if cfg.get("val_fraction", 0) + cfg.get("test_fraction", 0) >= 1:
        raise ConfigError(f"dataset.val_fraction + dataset.test_fraction = "
                          f"{cfg['val_fraction'] + cfg['test_fraction']} leaves no training data: keep it below 1")
    samples = spec.carved_from(cfg)
    if samples is not None:  # the splits the loader will carve: val (and test) from `samples`
        split_sizes(samples, [cfg[k] for k in ("val_fraction", "test_fraction") if k in cfg])
    check_listed_files(spec, cfg)
    if spec.check is not None:
        spec.check(spec, cfg)
    return spec


def check_task_dataset(task: str, dataset: str) -> None:
    """Each data set serves one task (its catalogue entry says which)."""
    if entry(DATASETS, dataset).task != task:
        valid = [name for name, spec in DATASETS.items() if spec.task == task]
        raise ConfigError(f"dataset={dataset} is not a {task} data set: choose one of {', '.join(valid)}")


def check_num_classes(expected: int | None, found: int, dataset: str) -> None:
    """The top-level `num_classes` (when given) must agree with what the loaded data set holds."""
    if expected is not None and expected != found:
        raise ConfigError(f"num_classes={expected} disagrees with dataset={dataset}, which has {found} classes: "
                          f"set num_classes={found} or null")
