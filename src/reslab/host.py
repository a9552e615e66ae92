"""The CPU side of a training process: how many threads it runs (from the cores it may use and how busy they are
when it starts), denormal flushing, a warning when the settings ask for more threads than the cores, and the
garbage collector's heap of imported objects. Standard library only (torch is handed in)."""
import gc
import logging
import math
import os
import time
from pathlib import Path

log = logging.getLogger("reslab")

SAMPLE_S = 0.2  # the shortest window over which the other processes' CPU use is measured when a job starts
CGROUP = Path("/sys/fs/cgroup")


def cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under taskset or a SLURM allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def allowed_cpus() -> list[int]:
    """The numbers of the CPUs this process may run on (all of them where affinity is unknown)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(cores()))


def usable_cores(quota: float | None = None) -> int:
    """The cores' worth this process may use: its CPUs, capped by a cgroup CPU quota (at least 1). `quota`: a
    `cpu_quota()` already read (read here when None)."""
    quota = cpu_quota() if quota is None else quota
    return max(1, min(cores(), math.floor(quota))) if quota is not None else cores()


def cpu_quota(root: Path = CGROUP, membership: str | None = None) -> float | None:
    """The cores' worth of CPU time this process's cgroup may use (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` /
    `cpu.cfs_period_us`; the tightest of the cgroup and its ancestors), or None when unlimited or unknown (a
    container given `--cpus=1.5` sees every core of the host but gets 1.5 cores' time). `membership`: the text of
    /proc/self/cgroup (read when None)."""
    if membership is None:
        try:
            membership = Path("/proc/self/cgroup").read_text()
        except OSError:
            membership = ""
    v2 = next((line.split(":", 2)[2] for line in membership.splitlines() if line.startswith("0::")), "/")
    v1 = next((line.split(":", 2)[2] for line in membership.splitlines()
               if "cpu" in line.split(":")[1].split(",") and line.count(":") >= 2), "/")
    quotas = []
    for folder in _ancestors(root, v2):
        text = _read(folder / "cpu.max").split()
        if len(text) == 2 and text[0] != "max" and _positive(text[0]) and _positive(text[1]):
            quotas.append(int(text[0]) / int(text[1]))
    for folder in _ancestors(root / "cpu", v1):
        quota, period = _read(folder / "cpu.cfs_quota_us").strip(), _read(folder / "cpu.cfs_period_us").strip()
        if _positive(quota) and _positive(period):
            quotas.append(int(quota) / int(period))
    return min(quotas, default=None)


def busy_cores(cpus, window_s: float = SAMPLE_S, stat: Path = Path("/proc/stat")) -> float | None:
    """How many of the CPUs `cpus` other processes keep busy: their non-idle share of /proc/stat's jiffies over
    `window_s` seconds, summed (this process sleeps meanwhile, so it is not counted). None where /proc/stat is
    not there (macOS, Windows)."""
    first = cpu_times(stat)
    if not first:
        return None
    time.sleep(window_s)
    return busy_between(first, cpu_times(stat), cpus)


def busy_between(first: dict, second: dict, cpus) -> float:
    """The busy cores among `cpus` between two readings of /proc/stat (`cpu_times`): each CPU's non-idle share of
    its jiffies (idle and iowait are idle), summed."""
    busy = 0.0
    for cpu in cpus:
        if cpu in first and cpu in second:
            total = sum(second[cpu]) - sum(first[cpu])
            idle = sum(second[cpu][3:5]) - sum(first[cpu][3:5])
            busy += (total - idle) / total if total > 0 else 0.0
    return busy


def choose_threads(setting, jobs: int, sample: bool = True, busy=busy_cores) -> tuple[int, str]:
    """(torch threads, why) for `cpu.threads`. An integer: as given. `auto`: the cores this process may use (its
    affinity, capped by a cgroup CPU quota) shared by the `jobs` this launcher runs at once, less the cores other
    processes keep busy (`sample`: `busy(cpus)`, by default a 0.2 s sample, `busy_since` from reslab.entry;
    rounded half up), at least 1, and no more than OMP_NUM_THREADS (set by a user, or by joblib's workers). Chosen
    once, when the job starts: the thread count changes float rounding, so a job keeps it to the end (metrics.json
    records it; `cpu.threads=<n>` reproduces it)."""
    if isinstance(setting, int):
        return setting, f"cpu.threads={setting} (as set)"
    allowed, cpus, quota = cores(), allowed_cpus(), cpu_quota()
    limit = usable_cores(quota)
    share = max(1, limit // max(1, jobs))
    reasons = [f"{allowed} core(s) allowed"] + ([f"a CPU quota of {quota:g}"] if quota is not None else [])
    if jobs > 1:
        reasons.append(f"{jobs} jobs at once")
    threads = share
    taken = busy(cpus) if sample else None
    if taken is not None:
        free = max(1, limit - math.floor(taken + 0.5))  # half a core or more counts as one (round() goes to even)
        reasons.append(f"{taken:.1f} busy with other processes")
        threads = min(threads, free)
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and 0 < int(omp) < threads:
        threads = int(omp)
        reasons.append(f"OMP_NUM_THREADS={omp}")
    return threads, f"cpu.threads=auto: {threads} thread(s) ({', '.join(reasons)}; pin with cpu.threads={threads})"


def reading() -> tuple[float, float, dict]:
    """(wall clock, this process's CPU seconds over all its threads, /proc/stat's jiffies per CPU): the start of a
    window over which `busy_since` or `others_busy` read the CPU use of the other processes."""
    own = os.times()
    return time.monotonic(), own.user + own.system, cpu_times()


def busy_since(start: tuple, cpus) -> float | None:
    """The cores among `cpus` other processes kept busy since `start` (a `reading`): /proc/stat's busy share less
    this process's own CPU time. A job reads it over its own start-up (its imports keep one core busy for seconds):
    two jobs started together then see each other, where two 0.2 s samples taken while both slept saw an idle
    machine and both took every core (1 pair in 5 did so, 158 s each instead of 19). A window shorter than
    SAMPLE_S (a sweep's next job in the same process, its imports done) is a `busy_cores` sample instead. None
    without /proc/stat."""
    if not start[2]:
        return None
    now = reading()
    wall = now[0] - start[0]
    if wall < SAMPLE_S:
        return busy_cores(cpus)
    return others_busy(start[2], now[2], now[1] - start[1], wall, cpus)


def others_busy(first: dict, second: dict, own_cpu_s: float, wall_s: float, cpus) -> float:
    """The cores other processes kept busy between two readings of /proc/stat `wall_s` seconds apart, during which
    this process used `own_cpu_s` seconds of CPU (all its threads): the busy cores less this process's share."""
    return max(0.0, busy_between(first, second, cpus) - own_cpu_s / wall_s) if wall_s > 0 else 0.0


def crowded(threads: int, others: float, limit: int) -> str | None:
    """One line when this job's `threads` and the cores `others` keep busy ask for more than the `limit` cores (the
    other processes started after this job chose its threads), else None. Half a core of slack: a reading over a
    few seconds counts the system's own work too."""
    if threads + others <= limit + 0.5:
        return None
    return (f"the machine filled up after this job started: other processes keep {others:.1f} of {limit} cores busy "
            f"beside its {threads} torch thread(s), so its steps slow down. It keeps {threads} thread(s): a run's "
            f"numbers follow its thread count (metrics.json `threads`). To share the cores, start each job with "
            f"cpu.threads=auto after the other has begun, give each cpu.threads=1, or run them as one sweep "
            f"(hydra/launcher=parallel shares the cores by count)")


def threads_for(setting, jobs: int) -> int:
    """`cpu.threads` as a thread count (see `choose_threads`)."""
    return choose_threads(setting, jobs)[0]


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
    reference counting; only cycles among them wait for the process's end. `first_only`: only if nothing is
    frozen yet in this process (the jobs of a sweep share a process: one job's leftovers are not frozen for the
    next); the collector's own count of frozen objects says so."""
    if first_only and gc.get_freeze_count() > 0:
        return
    gc.freeze()


def _ancestors(root: Path, path: str) -> list[Path]:
    parts = [p for p in path.strip().split("/") if p and p != ".."]
    return [root.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _positive(text: str) -> bool:
    return text.isdigit() and int(text) > 0


def cpu_times(stat: Path = Path("/proc/stat")) -> dict[int, list[int]]:
    """{cpu: [user, nice, system, idle, iowait, irq, softirq, steal]} jiffies of /proc/stat ({} without it)."""
    out = {}
    for line in _read(stat).splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            out[int(name[3:])] = [int(f) for f in fields[:8]]
    return out
