"""`validate(cfg)`: every meaning check of a composed config, once, before any heavy import or data load.

Values against the schema (types, ranges, choices, finite numbers), then what only a combination decides: the
model's depth rule and options (the model package's own pure-Python rules), the task against the data set and
the callbacks, the data files, resume/checkpoint paths, and sizes against the machine's memory. The first
problem raises a one-line `ConfigError`.
"""
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from reslab.config.launcher import check_launcher
from reslab.config.limits import check as check_limits
from reslab.config.resume import check_resumable
from reslab.config.rules import check
from reslab.config.schema import MONITORS, rule_for
from reslab.data.checks import VECTOR_SETS, check_dataset, check_task_dataset
from reslab.errors import ConfigError
from reslab.models.layout import check_model_args


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
    check_model_args(**values["model"], depth=values["depth"], width=values["width"])
    _check_task(values)
    check_dataset(values["dataset"])
    _check_paths(values)
    check_limits(values)


def _check_values(node: Mapping, prefix: str) -> None:
    """Each key with a rule is checked; mappings are walked into (the model's keys have their own rules)."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path == "model":
            continue
        rule = rule_for(path)
        if rule is not None:
            check(path, value, rule)
        if isinstance(value, Mapping):
            _check_values(value, f"{path}.")


def _targets(values: dict, group: str) -> dict[str, str]:
    return {name: spec["_target_"] for name, spec in (values.get(group) or {}).items() if spec}


def _check_task(values: dict) -> None:
    task = values["task"]
    name = task["name"]
    if task["monitor"] not in MONITORS[name]:
        raise ConfigError(f"task.monitor={task['monitor']!r} is invalid for task={name}: "
                          f"choose one of {', '.join(MONITORS[name])}")
    check_task_dataset(name, values["dataset"]["name"])
    if name == "detection" and task["compile"]:
        raise ConfigError("task.compile=true is not supported by task=detection: use task.compile=false")
    curvature = [k for k, target in _targets(values, "callbacks").items() if target.endswith(".Curvature")]
    if curvature and name != "classification":
        raise ConfigError(f"landscape=on (callbacks.{curvature[0]}) needs task=classification, not task={name}")
    trainer = values["trainer"]
    if trainer["enable_checkpointing"] is False and values["resume"] is not None:
        raise ConfigError("trainer.enable_checkpointing=false cannot resume a run: it writes no checkpoints")
    vector = values["dataset"]["name"] in VECTOR_SETS or values["dataset"].get("shape") == "vector"
    if values["batch_size"] < 2 and vector and values["model"].get("mlp_norm", "batch") == "batch":
        raise ConfigError(f"batch_size={values['batch_size']} is too small for BatchNorm on vector data: "
                          f"use batch_size >= 2 or model.mlp_norm=layer")


def _check_paths(values: dict) -> None:
    """The resume folder / checkpoint file exist (cheap looks; their contents are checked when loaded)."""
    resume, ckpt = values["resume"], values["ckpt_path"]
    if resume is not None and ckpt is not None:
        raise ConfigError(f"resume={resume!r} and ckpt_path={ckpt!r} are exclusive: give one of them")
    if resume is not None:
        check_resumable(resume)
    if ckpt is not None and not Path(ckpt).is_file():
        raise ConfigError(f"ckpt_path={ckpt!r} does not exist: give the path of a .ckpt file")
