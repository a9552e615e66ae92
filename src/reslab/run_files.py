"""Crash-safe files: every file a run writes (checkpoints through `AtomicCheckpointIO`, metrics.json, configs)
goes through `atomic_write`; `cache_dir()`, where reslab keeps what it measured or decoded once for every run of
the machine. Standard library only."""
import contextlib
import fcntl
import json
import os
from pathlib import Path

from reslab.errors import RefusedFile


def cache_dir() -> Path:
    """~/.cache/reslab, or $XDG_CACHE_HOME/reslab (the cache folder convention)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reslab"


def atomic_write(path: Path, write) -> None:
    """Write `path` so that it holds its old content or the complete new one, whatever happens: `write(file)` fills
    a temp file in the same folder (a rename is atomic only within one filesystem), which is flushed, fsynced and
    renamed over `path`, then the folder is fsynced so that the rename survives a power cut. On any error (a full
    disk included) the temp file is removed and `path` is untouched; one left by a killed process is removed by
    the next write of `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def _remove_stale_temps(path: Path) -> None:
    """Temp files of `path` whose writer process is gone (killed mid-write); POSIX only (Windows' os.kill kills)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp") if os.name == "posix" else ():
        pid = tmp.name[len(path.name) + 2:-len(".tmp")]
        with contextlib.suppress(OSError):  # PermissionError: alive, another user's
            try:
                os.kill(int(pid), 0) if pid.isdigit() and int(pid) != os.getpid() else None
            except ProcessLookupError:
                tmp.unlink()


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform or filesystem opens or fsyncs a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path, text: str) -> None:
    """`text` (UTF-8) written atomically: the old file stays whole until the new one is complete."""
    data = text.encode()
    atomic_write(Path(path), lambda file: file.write(data))


def write_json(path, data: dict) -> None:
    """`data` as JSON, written atomically: a reader (or a kill at any moment) sees the old file or the new one."""
    text = json.dumps(data, indent=2, default=float, allow_nan=True).encode()
    atomic_write(Path(path), lambda file: file.write(text))


def write_metrics(run_dir, metrics: dict) -> None:
    write_json(Path(run_dir) / "metrics.json", metrics)


class FolderInUse(RefusedFile):
    """Another process holds the run folder: nothing may be written into it, not even a failure record."""


@contextlib.contextmanager
def run_lock(run_dir):
    """Hold `<run_dir>/.lock` (an flock, released by the kernel when the process ends, however it ends) while a
    run writes its folder; RefusedFile naming the holder's pid when another process holds it."""
    path = Path(run_dir) / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise FolderInUse(f"run folder {run_dir} is in use by process {holder} (a run or a resume of it): "
                              f"wait for it to end, or stop it") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


HYDRA_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")  # Hydra's record of a job, in <run>/.hydra/


def hydra_record(run_dir) -> dict[str, str]:
    """The text of the run folder's .hydra files, kept in versions.json: a re-run of its sweep with other settings
    (which Hydra's basic launcher lets overwrite them before the job can refuse) puts them back with
    `restore_hydra_record`."""
    folder = Path(run_dir) / ".hydra"
    return {name: (folder / name).read_text() for name in HYDRA_FILES if (folder / name).is_file()}


def restore_hydra_record(run_dir, record) -> None:
    """Write the .hydra files of `record` (`hydra_record`'s) back into `run_dir`; other names and values are
    ignored (a crafted versions.json writes nothing else)."""
    for name, text in (record.items() if isinstance(record, dict) else ()):
        if name in HYDRA_FILES and isinstance(text, str):
            data = text.encode()
            atomic_write(Path(run_dir) / ".hydra" / name, lambda file, data=data: file.write(data))


def read_json(path) -> dict | None:
    """The JSON object in `path`, or None when the file is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
