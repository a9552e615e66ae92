"""`validate(cfg)`: every meaning check of a composed config, once, before any heavy import or data load.

Values against the schema (types, ranges, choices, finite numbers), then what only a combination decides: the
data set (its catalogue entry, its files), the model's keys with the depth rule for the data's network family,
the task against the data set and the callbacks, resume/checkpoint paths, and sizes against the machine's memory. The first
problem raises a one-line `ConfigError`.
"""
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from reslab.config.launcher import check_launcher
from reslab.config.limits import check as check_limits
from reslab.config.model import check_anchor_sizes, check_model
from reslab.config.dataset import check_dataset, check_task_dataset
from reslab.config.rules import check, entry
from reslab.config.schema import MODEL, rule_for
from reslab.data.catalog import DATASETS
from reslab.errors import ConfigError
from reslab.tasks.catalog import TASKS

# The `callbacks` entry conf/landscape/on.yaml adds: the Hessian of a classifier's loss.
CURVATURE = "curvature"


def to_dict(node) -> dict:
    """A resolved plain-dict copy of a config node (what builders and loggers take)."""
    if isinstance(node, Mapping) and not isinstance(node, DictConfig):
        return dict(node)
    return OmegaConf.to_container(node, resolve=True)


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError (one line) for the first bad value or combination in `cfg`."""
    values = to_dict(cfg)
    check_launcher((values.pop("hydra", None) or {}).get("launcher"), values)  # in the launching process only
    _check_values(values, "")
    dataset = entry(DATASETS, values["dataset"]["name"], values["dataset"].get("module"))
    for key, rule in dataset.rules.items():  # the options only this data set has
        check(f"dataset.{key}", values["dataset"].get(key), rule)
    vector = dataset.is_vector(values["dataset"])
    layouts = check_model(**values["model"], depth=values["depth"], width=values["width"], vector=vector)
    _check_task(values, vector)
    if values["task"]["name"] == "detection":
        check_anchor_sizes(values["task"]["anchor_sizes"], layouts[False])
    check_dataset(values["dataset"])
    _check_paths(values)
    check_limits(values, dataset)


def _check_values(node: Mapping, prefix: str) -> None:
    """Each key with a rule is checked; mappings are walked into (the model's keys are checked together, by
    `check_model`)."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path == "model" or path in MODEL:
            continue
        rule = rule_for(path)
        if rule is not None:
            check(path, value, rule)
        if isinstance(value, Mapping):
            _check_values(value, f"{path}.")


def _check_task(values: dict, vector: bool) -> None:
    task = values["task"]
    name = task["name"]
    spec = entry(TASKS, name)
    monitors = spec.monitors
    if task["monitor"] not in monitors:
        raise ConfigError(f"task.monitor={task['monitor']!r} is invalid for task={name}: "
                          f"choose one of {', '.join(monitors)}")
    check_task_dataset(name, values["dataset"]["name"])
    if task["compile"] and not spec.compiles:
        raise ConfigError(f"task.compile=true is not supported by task={name}: use task.compile=false")
    if (values.get("callbacks") or {}).get(CURVATURE) and name != "classification":
        raise ConfigError(f"landscape=on (callbacks.{CURVATURE}) needs task=classification, not task={name}")
    trainer = values["trainer"]
    if trainer["enable_checkpointing"] is False and values["resume"] is not None:
        raise ConfigError("trainer.enable_checkpointing=false cannot resume a run: it writes no checkpoints")
    if values["batch_size"] < 2 and vector and values["model"].get("mlp_norm", "batch") == "batch":
        raise ConfigError(f"batch_size={values['batch_size']} is too small for BatchNorm on vector data: "
                          f"use batch_size >= 2 or model.mlp_norm=layer")


def _check_paths(values: dict) -> None:
    """The checkpoint file of a new run exists (a cheap look; its contents are checked when loaded). The resume
    folder is checked where the run starts (reslab.outdir); a resumed run's ckpt_path is only its record."""
    ckpt = values["ckpt_path"]
    if ckpt is not None and values["resume"] is None and not Path(ckpt).is_file():
        raise ConfigError(f"ckpt_path={ckpt!r} does not exist: give the path of a .ckpt file")
