"""The glue between reslab's runs and the launchers that start them in other processes (SLURM through submitit,
isolated local processes): where a run ran and the record of a job that died before it could
write its own (which GPUs a parallel job slot gets: reslab.config.launcher).

Light on purpose (stdlib and omegaconf): the launchers in `hydra_plugins.reslab_launchers` import it in the
launching process, `reslab.run` in every run.
"""
import os
import signal
import socket
from pathlib import Path

from omegaconf import OmegaConf

from reslab.run_files import write_metrics


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
