"""A finished or killed run's saved config, and the config a resumed run continues with. Pure omegaconf: it runs
before the heavy imports.

A resume continues the same run: the command's overrides may change only how it runs on, never what it is.
`MAY_CHANGE` lists the keys a resume may set (more epochs, the hardware, the threads, paths of the data); any other
override (the architecture, the data, the seed, a config group) is refused in one line, before anything is written.
"""
import hashlib
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from reslab.errors import ConfigError
from reslab.run_files import atomic_write
from reslab.sweep.keys import override_key

SAVED_CONFIG = Path(".hydra") / "config.yaml"
# Keys (or key prefixes ending in ".") a resume may change: how long and on what it trains, not what it trains.
MAY_CHANGE = ("epochs", "cpu.", "summary.", "trainer.max_time", "trainer.max_steps", "trainer.accelerator",
              "trainer.devices", "trainer.enable_progress_bar", "dataset.root", "dataset.num_workers",
              "dataset.download")


def check_resumable(folder) -> None:
    """ConfigError unless `folder` holds a run's saved config (what `resume=` continues). Called once, where the
    run starts (`reslab.outdir.CheckOutputDir`), before any folder is made or written."""
    path = Path(folder)
    if path.is_file():
        raise ConfigError(f"resume={str(folder)!r} is a file, not a run folder: give the folder of a "
                          f"`python train.py` run")
    if not path.is_dir():
        raise ConfigError(f"resume={str(folder)!r} does not exist: give the folder of a `python train.py` run")
    if not (path / SAVED_CONFIG).is_file():
        raise ConfigError(f"resume={str(folder)!r} is not a resumable run folder: {path / SAVED_CONFIG} is missing")


def saved_config(run_dir) -> DictConfig:
    """The config a run was trained with; ConfigError when `run_dir` is not a run folder."""
    path = Path(run_dir) / SAVED_CONFIG
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no {SAVED_CONFIG}: pass the folder of a `python train.py` run")
    return OmegaConf.load(path)


def plain_overrides(overrides: list[str]) -> list[str]:
    """The command's overrides that change the resumed run's values (not resume= itself, not hydra's)."""
    return [o for o in overrides if not override_key(o).startswith(("resume", "hydra."))]


def resumed_config(folder: str, overrides: list[str]) -> DictConfig:
    """The saved config of run `folder`, with this command's overrides of `MAY_CHANGE` keys (e.g. epochs=60) on top.
    Any other override would not continue the same run: ConfigError naming it. Nothing is written here:
    `save_resumed` records the overrides once the run has been checked whole (config and checkpoint)."""
    saved = saved_config(folder)
    extra = plain_overrides(overrides)
    for override in extra:
        key = override_key(override)
        if key == "ckpt_path":
            raise ConfigError(f"resume={folder!r} and {override!r} are exclusive: give one of them")
        if isinstance(OmegaConf.select(saved, key), DictConfig) or not _may_change(key):
            raise ConfigError(f"{override!r} would change what the run being resumed is: a resume may change only "
                              f"{', '.join(k.rstrip('.') for k in MAY_CHANGE)}; start a new run for the rest")
    cfg = saved.copy()
    for override in OverridesParser.create().parse_overrides(extra):  # Hydra's parsing: nan, inf, lists ...
        OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True, force_add=override.is_add())
    cfg.resume = str(folder)
    return cfg


def _may_change(key: str) -> bool:
    return any(key == allowed or allowed.endswith(".") and key.startswith(allowed) for allowed in MAY_CHANGE)


def save_resumed(cfg: DictConfig, folder) -> None:
    """Write a checked resumed config back (resume= itself left out), so the folder says what the run now is."""
    saved = cfg.copy()
    saved.resume = None
    text = OmegaConf.to_yaml(saved).encode()
    atomic_write(Path(folder) / SAVED_CONFIG, lambda file: file.write(text))


def digest(cfg: DictConfig) -> str:
    """A fingerprint of what a run trains (its config, resume= and the run's folder left out, interpolations
    unresolved: a moved folder keeps its fingerprint): kept in versions.json, compared when a sweep is re-run in its
    folder, and by a launcher that plans the jobs before they run."""
    values = cfg.copy()
    values.resume = None
    if OmegaConf.select(values, "trainer.default_root_dir") is not None:
        values.trainer.default_root_dir = None
    return hashlib.sha256(OmegaConf.to_yaml(values).encode()).hexdigest()[:16]
