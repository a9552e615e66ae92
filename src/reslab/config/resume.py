"""A finished or killed run's saved config, and the config a resumed run continues with. Pure omegaconf: it runs
before the heavy imports."""
import hashlib
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from reslab.errors import ConfigError
from reslab.run_files import atomic_write

SAVED_CONFIG = Path(".hydra") / "config.yaml"


def check_resumable(folder) -> None:
    """ConfigError unless `folder` holds a run's saved config (what `resume=` continues)."""
    if not (Path(folder) / SAVED_CONFIG).is_file():
        raise ConfigError(f"resume={str(folder)!r} is not a resumable run folder: {Path(folder) / SAVED_CONFIG} "
                          f"is missing")


def saved_config(run_dir) -> DictConfig:
    """The config a run was trained with; ConfigError when `run_dir` is not a run folder."""
    path = Path(run_dir) / SAVED_CONFIG
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no {SAVED_CONFIG}: pass the folder of a `python train.py` run")
    return OmegaConf.load(path)


def plain_overrides(overrides: list[str]) -> list[str]:
    """The command's overrides that change the resumed run's values (not resume= itself, not hydra's)."""
    return [o for o in overrides if not o.split("=", 1)[0].lstrip("+~").startswith(("resume", "hydra."))]


def resumed_config(folder: str, overrides: list[str]) -> DictConfig:
    """The saved config of run `folder`, with this command's plain-value overrides (e.g. epochs=60) on top.
    Changing a config group (model=..., dataset=...) would not continue the same run, so it is refused.
    Nothing is written here: `save_resumed` records the overrides once the result has been validated."""
    saved = saved_config(folder)
    extra = plain_overrides(overrides)
    for override in extra:
        key = override.split("=", 1)[0].lstrip("+~")
        if isinstance(OmegaConf.select(saved, key), DictConfig):
            raise ConfigError(f"{override!r} changes a config group of the run being resumed: start a new run instead")
    cfg = saved.copy()
    for override in OverridesParser.create().parse_overrides(extra):  # Hydra's parsing: nan, inf, lists ...
        OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True, force_add=override.is_add())
    cfg.resume = str(folder)
    return cfg


def save_resumed(cfg: DictConfig, folder) -> None:
    """Write a validated resumed config back (resume= itself left out), so the folder says what the run is."""
    saved = cfg.copy()
    saved.resume = None
    text = OmegaConf.to_yaml(saved).encode()
    atomic_write(Path(folder) / SAVED_CONFIG, lambda file: file.write(text))


def digest(cfg: DictConfig) -> str:
    """A fingerprint of what a run trains (its config, resume= left out, interpolations unresolved: a moved folder
    keeps its fingerprint): kept in versions.json, compared when a sweep is re-run in its folder."""
    values = cfg.copy()
    values.resume = None
    return hashlib.sha256(OmegaConf.to_yaml(values).encode()).hexdigest()[:16]
