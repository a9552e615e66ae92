"""The CPU side of a training process: how many threads it runs, denormal flushing, a warning when the settings
ask for more threads than the cores this process may use, and the garbage collector's heap of imported objects.
Standard library only (torch is handed in)."""
import gc
import logging
import os

log = logging.getLogger("reslab")


def cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under taskset or a SLURM allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_for(setting, jobs: int) -> int:
    """`cpu.threads`: an integer as given; auto = the cores shared by the `jobs` running at once (at least 1), or
    fewer when OMP_NUM_THREADS says so (set by a user, or by joblib's workers)."""
    if isinstance(setting, int):
        return setting
    share = max(1, cores() // max(1, jobs))
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(share, int(limit)) if limit.isdigit() and int(limit) > 0 else share


def oversubscribed(threads: int, jobs: int, workers: int) -> str | None:
    """A one-line warning when `jobs` processes of `threads` threads (+ `workers` DataLoader processes each)
    ask for more than the cores: their OpenMP threads then spin against each other (seen: 30-60x slower steps)."""
    want = jobs * (threads + workers)
    if want <= cores():
        return None
    return (f"{jobs} job(s) x ({threads} torch threads + {workers} data workers) = {want} on {cores()} cores: "
            f"expect steps many times slower; set cpu.threads=auto or dataset.num_workers=0")


def set_up(torch, threads: int, flush_denormal: bool) -> dict:
    """Apply the settings to this process; returns what took effect (for metrics.json)."""
    torch.set_num_threads(threads)
    flushed = bool(torch.set_flush_denormal(flush_denormal)) and flush_denormal
    return {"threads": torch.get_num_threads(), "flush_denormal": flushed}


def freeze_heap(first_only: bool = False) -> None:
    """Move every object alive now into the garbage collector's permanent generation: collections skip them from
    then on. Called once the heavy libraries are imported (their ~10^6 objects are no longer rescanned during
    training) and when the command ends (the interpreter's final collections skip them: the exit of a job that
    imported Lightning took 1.5 s of an idle 2-core machine, mostly that). Frozen objects are still freed by
    reference counting; only cycles among them wait for the process's end. `first_only`: only if nothing was frozen
    yet in this process (the jobs of a sweep share a process: one job's leftovers are not frozen for the next)."""
    if first_only and _frozen:
        return
    _frozen.append(True)
    gc.freeze()


_frozen: list = []
