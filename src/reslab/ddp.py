"""Lightning's `ddp` strategy inside a Hydra job, single run or multirun.

Lightning starts ranks >= 1 by re-running `sys.argv` with `hydra.run.dir=<HydraConfig run.dir>`. In a multirun
`sys.argv` is the whole sweep (each extra rank would start a sweep of its own), and `run.dir` holds `${now:...}`,
which resolves anew in the child, in a stray folder (Lightning PR 18145/18175, hydra issue 2070). And with
Hydra's basic launcher every job runs in the same process, so the next job must find neither the last job's
process group open (`reslab.run.run` closes it) nor its rank variables in the environment (with LOCAL_RANK set,
Lightning would wait for ranks that nobody starts).
"""
import os
import sys
from contextlib import contextmanager

from omegaconf import read_write

# What Lightning's launcher sets in the parent's environment for the ranks it starts.
RANK_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextmanager
def ddp_in_this_job(hydra_cfg):
    """While the job runs, extra ranks re-run this job's own overrides in its own folder; the process group is
    closed by `reslab.run.run`. `hydra_cfg` is `HydraConfig.get()` of the running job. Harmless without DDP."""
    argv, environ = sys.argv, {name: os.environ.get(name) for name in RANK_VARIABLES}
    sys.argv = [argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg.run):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = argv
        for name, value in environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def primary_rank() -> bool:
    """Whether this process is a job's first (or only) rank: DDP ranks >= 1 share the folder of rank 0. Lightning
    tells the ranks it starts their rank in the environment (LOCAL_RANK)."""
    return os.environ.get("LOCAL_RANK", "0") == "0"
