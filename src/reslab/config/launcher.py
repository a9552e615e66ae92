"""The launcher's keys: those that must agree with the Trainer's, checked before a sweep submits anything, and the
GPUs each job slot of the parallel launcher gets."""
import os
from pathlib import Path

from reslab.errors import ConfigError

NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one entry per GPU the driver sees


def check_launcher(launcher: dict | None, values: dict) -> None:
    """On SLURM (hydra/launcher=slurm) every task of a job runs the whole training: under DDP there is one task per
    device (Lightning takes the ranks from srun), else one task; and as many nodes as trainer.num_nodes."""
    if not launcher or "slurm" not in str(launcher.get("_target_", "")).lower() or "tasks_per_node" not in launcher:
        return
    trainer, tasks = values["trainer"], launcher["tasks_per_node"]
    devices, ddp = trainer.get("devices"), "ddp" in str(trainer.get("strategy") or "")
    if ddp and (not isinstance(devices, int) or devices != tasks):
        raise ConfigError(f"hydra.launcher.tasks_per_node={tasks} does not match trainer.devices={devices}: under "
                          f"DDP SLURM starts one rank per device with srun; set both to the same integer")
    if not ddp and tasks != 1:
        raise ConfigError(f"hydra.launcher.tasks_per_node={tasks} would run the training {tasks} times side by side: "
                          f"choose 1, or trainer=ddp trainer.devices={tasks}")
    nodes = trainer.get("num_nodes") or 1
    if launcher.get("nodes", 1) != nodes:
        raise ConfigError(f"hydra.launcher.nodes={launcher.get('nodes')} does not match trainer.num_nodes={nodes}: "
                          f"set both to the same number")


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
