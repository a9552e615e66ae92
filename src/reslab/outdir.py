"""A Hydra callback that checks the output folder is writable before Hydra creates anything in it.

Hydra makes the run folder before any job code runs, so an unwritable or full disk would otherwise surface as
a traceback from inside Hydra (or as a half-written run).
"""
import os
import sys
import tempfile
from pathlib import Path

from hydra.experimental.callback import Callback


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


class CheckOutputDir(Callback):
    def _check(self, folder, key: str) -> None:
        if folder is None or not str(folder).strip() or Path(str(folder)).resolve() == Path.cwd():
            print(f"error: {key}={folder!r} would write the run into the current folder: give a folder of its own "
                  f"with {key}=...", file=sys.stderr)
            sys.exit(2)
        reason = _writable_error(Path(folder))
        if reason is not None:
            print(f"error: {key}={folder!r} is not writable ({reason}): choose another folder with {key}=...",
                  file=sys.stderr)
            sys.exit(2)

    def on_run_start(self, config, **kwargs) -> None:
        self._check(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config, **kwargs) -> None:
        self._check(config.hydra.sweep.dir, "hydra.sweep.dir")
