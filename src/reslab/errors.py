"""User-facing errors: one line that names the bad value and the valid choices; a run stopped by a signal; how a
script given a run or sweep folder reports bad input."""
import signal
import sys
from pathlib import Path


class UserError(ValueError):
    """Bad input from the user: printed as one line (no traceback), exit code 2. Raised as one of its kinds."""


class ConfigError(UserError):
    """A config value, or a data set's files, that cannot serve the run: raised by the config layer
    (reslab.config) and the data-file checks (reslab.data) only."""


class RefusedFile(UserError):
    """A file or folder the user points at that reslab will not use as it is: a checkpoint, a state dict, a run or
    job folder of another configuration, a folder another process holds."""


class UsageError(UserError):
    """A script's argument that does not fit what it was given (an export format, a run of another task)."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGTERM from a scheduler or a container, SIGINT from Ctrl-C). A
    KeyboardInterrupt, so that Lightning shuts down as it does for Ctrl-C; not an Exception, so that it ends a
    sweep instead of being recorded as one failed job. `exit_code` is the shell's 128 + signal number."""

    def __init__(self, name: str, line: str = ""):
        super().__init__(line or f"stopped by {name}")
        self.signal = name
        self.exit_code = 128 + int(getattr(signal, name, 15))


def stop_on_signal(signum, frame) -> None:
    """The SIGTERM / SIGINT handler of a reslab process (`install_signal_handlers`): raises `Interrupted`.
    While Lightning trains or tests it has installed its own SIGTERM handler, which calls this one after noting the
    signal: then nothing is raised here, and Lightning stops at the end of the current batch (its SIGTERMException)."""
    if signal.getsignal(signum) is not stop_on_signal:
        return
    raise Interrupted(signal.Signals(signum).name)


def install_signal_handlers() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop_on_signal)



def run_or_sweep(folder, on_run, on_sweep) -> None:
    """What a script given `folder` does: `on_run(folder)` for a run folder (it holds .hydra/config.yaml),
    `on_sweep(folder)` for any other folder; bad input (a UserError, a missing file, no folder) is one line on
    stderr and exit code 2."""
    folder = Path(folder)
    try:
        if (folder / ".hydra" / "config.yaml").is_file():
            on_run(folder)
        elif folder.is_dir():
            on_sweep(folder)
        else:
            raise UsageError(f"folder={str(folder)!r} is not a folder: pass a run or sweep folder")
    except (UserError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
