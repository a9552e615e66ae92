"""The glue between reslab's runs and the launchers that start them in other processes (SLURM through submitit,
isolated local processes): where a run ran, which GPUs a parallel job slot gets, and the record of a job that
died before it could write its own.

Light on purpose (stdlib and omegaconf): the launchers in `hydra_plugins.reslab_launchers` import it in the
launching process, `reslab.run` in every run.
"""
import os
import signal
import socket
from pathlib import Path

from omegaconf import OmegaConf

from reslab.errors import ConfigError
from reslab.run_files import write_metrics

NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one entry per GPU the driver sees


def place() -> dict:
    """Where this run ran, for metrics.json: host, the GPUs it was given, and under SLURM its job id (`<array>_<task>`
    for an array task), node, restarts (requeues) and the log files submitit's job writes."""
    record = {"host": socket.gethostname(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    if "SLURM_JOB_ID" not in os.environ:
        return record
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    record.update({"slurm/job_id": f"{array}_{task}" if array else os.environ["SLURM_JOB_ID"],
                   "slurm/node": os.environ.get("SLURMD_NODENAME", record["host"]),
                   "slurm/restarts": int(os.environ.get("SLURM_RESTART_COUNT", 0))})
    if os.environ.get("SUBMITIT_EXECUTOR") == "slurm":
        import submitit  # an optional extra (reslab[launchers]), present whenever submitit started this job

        paths = submitit.JobEnvironment().paths
        record.update({"slurm/stdout": str(paths.stdout), "slurm/stderr": str(paths.stderr)})
    return record


def visible_devices() -> list[int]:
    """The GPUs this process may hand out: CUDA_VISIBLE_DEVICES when set (integer ids), else every GPU the NVIDIA
    driver lists; [] on a machine without GPUs. No CUDA initialisation (the launching process stays light)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [part.strip() for part in visible.split(",") if part.strip()]
        if not all(part.isdigit() for part in ids):
            raise ConfigError(f"CUDA_VISIBLE_DEVICES={visible!r} names GPUs by UUID: give hydra.launcher.devices "
                              f"as a list of integer ids")
        return [int(part) for part in ids]
    return list(range(len(list(NVIDIA_GPUS.iterdir())))) if NVIDIA_GPUS.is_dir() else []


def gpu_slots(devices: list[int], n_jobs: int | None, gpus_per_job: int) -> list[list[int]]:
    """The job slots of a parallel sweep, each with its own disjoint GPUs: `n_jobs` slots (default: as many as the
    devices allow) of `gpus_per_job` devices each, in order; slots without GPUs when `devices` is empty."""
    if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs < 1):
        raise ConfigError(f"hydra.launcher.n_jobs={n_jobs!r}: choose a positive integer, or null (one job per "
                          f"{gpus_per_job} GPU(s), 2 on a machine without GPUs)")
    if not devices:
        return [[] for _ in range(n_jobs or 2)]
    if not isinstance(gpus_per_job, int) or gpus_per_job < 1:
        raise ConfigError(f"hydra.launcher.gpus_per_job={gpus_per_job!r}: choose a positive integer")
    fit = len(devices) // gpus_per_job
    if fit == 0 or (n_jobs or fit) > fit:
        raise ConfigError(f"hydra.launcher.n_jobs={n_jobs} x gpus_per_job={gpus_per_job} needs more GPUs than the "
                          f"{len(devices)} visible ({devices}): lower n_jobs or gpus_per_job")
    return [devices[i * gpus_per_job:(i + 1) * gpus_per_job] for i in range(n_jobs or fit)]


def job_folder(sweep_config) -> Path:
    """A sweep job's folder (hydra.sweep.dir / hydra.sweep.subdir) from its composed config, before it runs."""
    return Path(sweep_config.hydra.sweep.dir) / str(sweep_config.hydra.sweep.subdir)


def exit_reason(code: int | None) -> str:
    """`killed by SIGKILL (signal 9)` for a process's negative exit code (a Popen return code), else `exit code N`."""
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name} (signal {-code})"
    return f"exit code {code}"


def record_lost(folder: Path, overrides: list[str], reason: str) -> None:
    """A job that ended without its own record (killed, cancelled, out of time before it started): metrics.json
    `failed` with `reason`, and its overrides where Hydra would have written them, so the summary lists it. A record
    the job wrote itself is kept."""
    folder = Path(folder)
    if (folder / "metrics.json").exists() and (folder / ".hydra" / "overrides.yaml").exists():
        return
    if not (folder / ".hydra" / "overrides.yaml").exists():
        (folder / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(list(overrides)), folder / ".hydra" / "overrides.yaml")
    if not (folder / "metrics.json").exists():
        write_metrics(folder, {"status": "failed", "error": reason[:400]})
