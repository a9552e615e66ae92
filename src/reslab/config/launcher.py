"""The launcher's keys that must agree with the Trainer's, checked before a sweep submits anything."""
from reslab.errors import ConfigError


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
