"""User-facing errors: one line that names the bad value and the valid choices; and a run stopped by a signal."""
import signal


class ConfigError(ValueError):
    """Bad user input (config value, data folder, checkpoint). Printed as one line, no traceback."""


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

