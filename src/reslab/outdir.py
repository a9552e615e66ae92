"""Where a run starts: the Hydra callback that makes the run (or sweep) folder before Hydra writes anything in it.

Hydra creates the output folder and writes .hydra/ into it before any job code runs, so everything about the folder
is decided here, in one line and exit code 2 when it is refused:
- a resumed run's folder must be a run folder (`reslab.config.resume.check_resumable`): nothing is created for a
  missing one;
- a new run never goes into a folder that holds another run (finished or not): `resume=` continues that one;
  files that are not a run's are left alone;
- the default folder (`outputs/<date>/<time>`) is made atomically, `-2`, `-3`, ... appended when it is taken (two
  runs started in the same second get folders of their own); the chosen path is written into `hydra.run.dir`;
- the folder must be writable (not the current folder, not a full or read-only disk).
"""
import os
import sys
import tempfile
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import read_write

from reslab.config.resume import check_resumable
from reslab.ddp import primary_rank
from reslab.errors import UserError
from reslab.run_files import read_json
from reslab.sweep.keys import override_key


def _writable_error(folder: Path) -> str | None:
    """None when a file can be written under `folder` (created if missing), else the reason in a few words."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-") as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        return error.strerror or str(error)
    return None


def make_unique(path: str) -> str:
    """Create `path`, or `path-2`, `path-3`, ... : the first that does not exist yet (an atomic mkdir, so that two
    processes never get the same one); returns it. An unwritable parent is left to the writability check."""
    candidate, n = path, 1
    while True:
        try:
            Path(candidate).mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            n += 1
            candidate = f"{path}-{n}"
        except OSError:
            return candidate


def held_run(folder: Path) -> str | None:
    """What run `folder` holds, in a few words ("finished: ok, 3 epochs", "checkpoints, not finished"), or None when
    it holds none (missing, empty, unrelated files, or only the record of a run that failed before training)."""
    record = read_json(folder / "metrics.json") or {}
    status = record.get("status")
    if status is not None and status != "failed":
        return f"{status}, {record.get('epochs', '?')} epochs"
    if any((folder / "checkpoints").glob("*.ckpt")):
        return "checkpoints, not finished"
    return None


def _refuse(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _given(config, key: str) -> bool:
    return any(override_key(o) == key for o in config.hydra.overrides.hydra)


class CheckOutputDir(Callback):
    def _check(self, folder, key: str) -> None:
        if folder is None or not str(folder).strip() or Path(str(folder)).resolve() == Path.cwd():
            _refuse(f"{key}={folder!r} would write the run into the current folder: give a folder of its own "
                    f"with {key}=...")
        reason = _writable_error(Path(folder))
        if reason is not None:
            _refuse(f"{key}={folder!r} is not writable ({reason}): choose another folder with {key}=...")

    def on_run_start(self, config, **kwargs) -> None:
        resume = config.get("resume")
        if resume is not None:
            try:
                check_resumable(resume)
            except UserError as error:
                _refuse(str(error))
        folder = config.hydra.run.dir
        if resume is None and folder is not None and str(folder).strip() and primary_rank():  # DDP: rank 0's folder
            if _given(config, "hydra.run.dir"):
                held = held_run(Path(folder))
                if held is not None:
                    _refuse(f"hydra.run.dir={folder} holds another run ({held}): continue it with resume={folder}, "
                            f"or choose another folder")
            else:
                with read_write(config.hydra.run):
                    config.hydra.run.dir = folder = make_unique(str(folder))
        self._check(folder, "hydra.run.dir")

    def on_multirun_start(self, config, **kwargs) -> None:
        folder = config.hydra.sweep.dir
        if folder is not None and str(folder).strip() and not _given(config, "hydra.sweep.dir"):
            try:  # the default folder: a sweep of its own (its jobs resolve the same name, so no -2 here)
                Path(folder).mkdir(parents=True, exist_ok=False)
            except FileExistsError:
                _refuse(f"hydra.sweep.dir={folder} was taken by another sweep started in the same second: run the "
                        f"command again, or give hydra.sweep.dir=...")
            except OSError:
                pass  # the writability check says why
        self._check(folder, "hydra.sweep.dir")
