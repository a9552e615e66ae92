"""reslab's launchers: hydra-submitit-launcher's, changed where a sweep must not lose work.

A Hydra plugin lives in the `hydra_plugins` namespace (Hydra instantiates launchers from there only), hence this
package next to `reslab`. Both launchers run each job in a process of its own through submitit, and in the
launching process:
- validate every job's config before anything starts (`reslab.config.validate`, which also checks the launcher's
  keys against the Trainer's: SLURM tasks per node = devices under DDP);
- skip the jobs whose folder already holds a finished run (the same command with hydra.sweep.dir=<folder> submits
  only what is missing; a job with checkpoints resumes from them, reslab.entry);
- wait for every job, and record a job that died without its own record (killed, cancelled, out of time) as
  `failed` with the reason, so the others' results and the summary are never lost to one job.

`ReslabSlurmLauncher` (conf/hydra/launcher/slurm.yaml) submits one job array through sbatch; a job requeued by
SLURM (preemption, `scontrol requeue`, submitit's requeue at the signal before the time limit) runs again and
resumes from its checkpoints. `IsolatedLauncher` (conf/hydra/launcher/parallel.yaml) runs at most `n_jobs` jobs at
once on this machine, one process each (submitit's local executor): a job killed by a signal fails alone; each job
slot has its own GPUs (`devices`, `gpus_per_job`).
"""
