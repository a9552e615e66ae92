"""Resuming and checkpoint safety: which checkpoint a run starts from, and refusing bad ones in one line.

Checkpoints are only ever read with `weights_only=True`: a file that would run code when unpickled is refused.
"""
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from reslab.errors import ConfigError

LAST = Path("checkpoints") / "last.ckpt"
SAVED_CONFIG = Path(".hydra") / "config.yaml"


def check_paths(cfg: DictConfig) -> None:
    """Cheap checks before any heavy import: the resume folder / checkpoint file exist."""
    if cfg.resume is not None and cfg.ckpt_path is not None:
        raise ConfigError(f"resume={cfg.resume!r} and ckpt_path={cfg.ckpt_path!r} are exclusive: give one of them")
    if cfg.resume is not None:
        folder = Path(cfg.resume)
        for needed in (SAVED_CONFIG, LAST):
            if not (folder / needed).is_file():
                raise ConfigError(f"resume={cfg.resume!r} is not a resumable run folder: {folder / needed} is missing")
    if cfg.ckpt_path is not None and not Path(cfg.ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={cfg.ckpt_path!r} does not exist: give the path of a .ckpt file")


def saved_config(run_dir: Path) -> DictConfig:
    """The resolved config a finished run was trained with; ConfigError when `run_dir` is not a run folder."""
    path = Path(run_dir) / SAVED_CONFIG
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no {SAVED_CONFIG}: pass the folder of a `python train.py` run")
    return OmegaConf.load(path)


def resumed_config(folder: str, overrides: list[str]) -> DictConfig:
    """The saved config of run `folder`, with this command's plain-value overrides (e.g. epochs=60) on top.

    Changing a config group (model=..., dataset=...) would not continue the same run, so it is refused.
    """
    saved = saved_config(folder)
    extra = [o for o in overrides if not o.split("=", 1)[0].lstrip("+~").startswith(("resume", "hydra."))]
    for override in extra:
        key = override.split("=", 1)[0].lstrip("+~")
        if isinstance(OmegaConf.select(saved, key), DictConfig):
            raise ConfigError(f"{override!r} changes a config group of the run being resumed: start a new run instead")
    cfg = OmegaConf.merge(saved, OmegaConf.from_dotlist(extra))
    if extra:  # the run folder's config says what the continued run really is
        OmegaConf.save(cfg, Path(folder) / SAVED_CONFIG)
    cfg.resume = str(folder)
    return cfg


def start_checkpoint(cfg: DictConfig, run_dir: Path) -> Path | None:
    """The checkpoint training continues from: the run's last one when resuming, else `ckpt_path` (or none)."""
    if cfg.resume is not None:
        return Path(run_dir) / LAST
    return Path(cfg.ckpt_path) if cfg.ckpt_path is not None else None


def load_checked(path: Path, module) -> dict:
    """Load `path` safely and check it fits `module`; ConfigError (one line) if it is unreadable, unsafe or
    belongs to another architecture. Returns the checkpoint dict."""
    import pickle

    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()[0]
        raise ConfigError(f"checkpoint {str(path)!r} refused: it holds more than weights ({reason})") from None
    except Exception as error:  # noqa: BLE001 - any read failure means the file is not a usable checkpoint
        raise ConfigError(f"checkpoint {str(path)!r} is not readable: {type(error).__name__}: "
                          f"{str(error).strip().splitlines()[0] if str(error).strip() else 'corrupt file'}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ConfigError(f"checkpoint {str(path)!r} is not a Lightning checkpoint (no state_dict)")
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in ckpt["state_dict"].items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        unexpected = sorted(set(found) - set(expected))
        reshaped = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
        first = (missing or unexpected or reshaped)[0]
        raise ConfigError(f"checkpoint {str(path)!r} belongs to another architecture: {len(missing)} missing, "
                          f"{len(unexpected)} unexpected, {len(reshaped)} reshaped tensors (first: {first})")
    return ckpt
