"""Validate a composed config before anything heavy is imported: a typo costs seconds, not a training run.

Hydra already rejects unknown keys and unknown group options; this checks the values.
"""
from collections.abc import Mapping

from omegaconf import DictConfig, OmegaConf

from reslab.errors import ConfigError

OPTIMIZERS = ("sgd", "adamw")
SCHEDULERS = ("cosine", "onecycle", "multistep", "none")
LOGGERS = ("tensorboard", "csv", "none")
PRECISIONS = ("auto", "32", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "64")

# Used by conf/train.yaml's hydra section: a resumed run reuses its folder and keeps its saved .hydra/ config.
OmegaConf.register_new_resolver("resume_or", lambda resume, default: default if resume is None else resume,
                                replace=True)
OmegaConf.register_new_resolver("unless_resume", lambda resume, value: value if resume is None else None,
                                replace=True)


def _check_number(key: str, value, kind: type, minimum, *, strict: bool = True, optional: bool = False) -> None:
    if value is None and optional:
        return
    ok_type = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float:
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
    below = ok_type and (value <= minimum if strict else value < minimum)
    if not ok_type or below:
        bound = f"> {minimum}" if strict else f">= {minimum}"
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{key}={value!r} is invalid: expected {what} {bound}")


def _check_choice(key: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is invalid: choose one of {', '.join(map(str, choices))}")


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError (one line) for the first bad value in `cfg`."""
    from reslab.checkpoints import check_paths
    from reslab.data.checks import check_dataset, check_task_dataset
    from reslab.models.layout import check_model_args
    from reslab.tasks import TASKS

    _check_number("seed", cfg.seed, int, 0, strict=False)
    _check_number("epochs", cfg.epochs, int, 0, strict=False)
    _check_number("batch_size", cfg.batch_size, int, 0)
    _check_number("lr", cfg.lr, float, 0)
    _check_number("num_classes", cfg.num_classes, int, 1, strict=False, optional=True)
    _check_number("weight_decay", cfg.weight_decay, float, 0, strict=False)
    _check_number("label_smoothing", cfg.label_smoothing, float, 0, strict=False)
    if cfg.label_smoothing >= 1:
        raise ConfigError(f"label_smoothing={cfg.label_smoothing!r} is invalid: expected a number in [0, 1)")
    _check_choice("task.name", cfg.task.name, TASKS)
    _check_choice("optim.name", cfg.optim.name, OPTIMIZERS)
    _check_choice("scheduler.name", cfg.scheduler.name, SCHEDULERS)
    _check_choice("logger.name", cfg.logger.name, LOGGERS)
    _check_choice("trainer.precision", str(cfg.trainer.precision), PRECISIONS)
    _check_number("trainer.accumulate_grad_batches", cfg.trainer.accumulate_grad_batches, int, 0)
    _check_number("trainer.gradient_clip_val", cfg.trainer.gradient_clip_val, float, 0, optional=True)
    check_model_args(**to_dict(cfg.model), depth=cfg.depth, width=cfg.width)
    check_task_dataset(cfg.task.name, cfg.dataset.name)
    check_dataset(to_dict(cfg.dataset))
    check_paths(cfg)


def to_dict(node) -> dict:
    """A resolved plain-dict copy of a config node (what builders and loggers take)."""
    if isinstance(node, Mapping) and not isinstance(node, DictConfig):
        return dict(node)
    return OmegaConf.to_container(node, resolve=True)
