"""Checkpoints: written so that a kill or a full disk never leaves a broken one (`AtomicCheckpointIO`, the
trainer's default plugin), read only with `weights_only=True` and checked against the network (`load_checked`),
and chosen in one place: the newest loadable one to resume from, `choose` / `load_run` for scripts.
"""
import contextlib
import logging
import pickle
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig

from reslab.config.resume import saved_config
from reslab.errors import RefusedFile
from reslab.run_files import atomic_write
from reslab.tasks import build

log = logging.getLogger("reslab")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's TorchCheckpointIO, but every checkpoint is written through `atomic_write`: temp file in the
    checkpoint's own folder, fsync, rename, folder fsync. Lightning's own write goes through fsspec, directly
    or via a temp file elsewhere and a copy, so a kill or a full disk can leave a truncated `last.ckpt`.
    Remote paths (s3://...) are left to Lightning. Trainer config: plugins: [{_target_: <this class>}]."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        if storage_options is not None or "://" in str(path) and not str(path).startswith("file://"):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_write(Path(str(path).removeprefix("file://")), lambda file: _torch_save(checkpoint, file))


def _torch_save(checkpoint, file) -> None:
    try:
        torch.save(checkpoint, file)
    except RuntimeError as error:  # torch's zip writer hides a failed write (ENOSPC...) behind "unexpected pos"
        if isinstance(error.__context__, OSError):
            raise error.__context__ from None
        raise


def start_checkpoint(cfg: DictConfig, run_dir: Path) -> Path | None:
    """The checkpoint training continues from: when resuming, the run's newest checkpoint that loads (a broken
    last.ckpt is skipped, with a warning, for an intact best.ckpt; none when the run was stopped before its first
    checkpoint: it starts again, in its folder, as it did the first time); else `ckpt_path` (or none)."""
    if cfg.resume is None:
        return Path(cfg.ckpt_path) if cfg.ckpt_path is not None else None
    path, skipped = newest_loadable(run_dir)
    for message in skipped:
        log.warning("resume: %s", message)
    if path is None and not skipped:
        log.warning("resume: no checkpoint written yet in %s: the run starts again as it first did", run_dir)
        return Path(cfg.ckpt_path) if cfg.ckpt_path is not None else None
    if path is None:
        raise RefusedFile(f"resume={cfg.resume!r}: no checkpoint in {Path(run_dir) / 'checkpoints'} loads "
                          f"({'; '.join(skipped)}): start the run again instead")
    return path


def load_checked(path: Path, module) -> dict:
    """Load `path` safely and check it fits `module`; RefusedFile (one line) if it is unreadable, unsafe or
    belongs to another architecture. Returns the checkpoint dict."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()[0]
        raise RefusedFile(f"checkpoint {str(path)!r} refused: it holds more than weights ({reason})") from None
    except Exception as error:  # noqa: BLE001 - any read failure means the file is not a usable checkpoint
        raise RefusedFile(f"checkpoint {str(path)!r} is not readable: {type(error).__name__}: "
                          f"{str(error).strip().splitlines()[0] if str(error).strip() else 'corrupt file'}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise RefusedFile(f"checkpoint {str(path)!r} is not a Lightning checkpoint (no state_dict)")
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in ckpt["state_dict"].items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        unexpected = sorted(set(found) - set(expected))
        reshaped = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
        first = (missing or unexpected or reshaped)[0]
        raise RefusedFile(f"checkpoint {str(path)!r} belongs to another architecture: {len(missing)} missing, "
                          f"{len(unexpected)} unexpected, {len(reshaped)} reshaped tensors (first: {first})")
    return ckpt


WHICH = ("last", "best", "best-else-last")


def choose(run_dir, which: str = "best-else-last") -> Path:
    """The checkpoint file of run folder `run_dir`: "last", "best", "best-else-last" or the path of a .ckpt file.
    The one place that decides which checkpoint a script reads (export, detect, landscapes)."""
    folder = Path(run_dir) / "checkpoints"
    if which not in WHICH:
        path = Path(which)
    elif which == "best-else-last":
        path = next((p for p in (folder / "best.ckpt", folder / "last.ckpt") if p.is_file()), folder / "best.ckpt")
    else:
        path = folder / f"{which}.ckpt"
    if not path.is_file():
        raise RefusedFile(f"checkpoint {str(path)!r} does not exist: give {', '.join(WHICH)} or a .ckpt path")
    return path


def load_run(run_dir, which: str = "best-else-last"):
    """(cfg, datamodule, task, checkpoint path) of a run folder: its saved config, the data and LightningModule
    rebuilt from it (`reslab.tasks.build`), with the weights of checkpoint `which` (see `choose`), checked."""
    cfg = saved_config(run_dir)
    cfg.trainer.default_root_dir = str(run_dir)  # the config's paths point into the folder where it now lies
    path = choose(run_dir, which)
    data, task = build(cfg)
    task.load_state_dict(load_checked(path, task)["state_dict"])
    return cfg, data, task, path


def newest_loadable(run_dir: Path) -> tuple[Path | None, list[str]]:
    """The newest checkpoint of run folder `run_dir` (any `checkpoints/*.ckpt`: last, best, ...) that loads with
    `weights_only=True` as a Lightning checkpoint, newest by the `global_step` and `epoch` stored inside (not the
    file time; last.ckpt wins a tie), and one message per file skipped as broken, e.g.
    "skipped checkpoints/last.ckpt: truncated file". (None, messages) when none loads."""
    run_dir = Path(run_dir)
    found, skipped = [], []
    for path in sorted((run_dir / "checkpoints").glob("*.ckpt")):
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(ckpt, dict) or not {"state_dict", "global_step", "epoch"} <= set(ckpt):
                raise KeyError("not a Lightning checkpoint (no state_dict, global_step or epoch)")
            found.append(((int(ckpt["global_step"]), int(ckpt["epoch"])), path.name == "last.ckpt", path))
        except Exception as error:  # noqa: BLE001 - any read failure means the file is not a usable checkpoint
            skipped.append(f"skipped {path.relative_to(run_dir)}: {_why_broken(path, error)}")
    return (max(found)[2] if found else None), skipped


def _why_broken(path: Path, error: Exception) -> str:
    """A few words on why checkpoint `path` did not load (raising `error`)."""
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        return "empty file" if path.exists() else "missing file (a broken link)"
    with contextlib.suppress(OSError), open(path, "rb") as file:  # torch's zip format: a complete file ends with
        zipped = file.read(4) == b"PK\x03\x04"                        # an end-of-central-directory record
        file.seek(max(0, size - 65_557))
        if zipped and b"PK\x05\x06" not in file.read():
            return "truncated file"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or ["corrupt file"]
    if isinstance(error, pickle.UnpicklingError):
        detail = next((line for line in lines if "WeightsUnpickler error" in line), lines[0])
        return f"not loadable with weights_only=True ({detail})"
    if isinstance(error, KeyError):
        return str(error.args[0])
    return f"{type(error).__name__}: {lines[0].split('. ')[0]}"
