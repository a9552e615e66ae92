"""The launcher classes Hydra instantiates (`hydra.launcher._target_` of conf/hydra/launcher/slurm.yaml and
parallel.yaml); see the package's docstring."""
import copy
import logging
import math
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import OmegaConf, open_dict, read_write

try:
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher
except ImportError:  # reslab[launchers] not installed: no warning from Hydra's scan on every run
    BaseSubmititLauncher = None

log = logging.getLogger(__name__)
POLL_S = 0.5    # how often the launching process looks for finished jobs
SACCT_S = 5.0   # how often it asks sacct for the states of the SLURM jobs (submitit's own pace slows to minutes)
LOCAL_ENV = {"SUBMITIT_EXECUTOR": "local", "SUBMITIT_LOCAL_NTASKS": "1", "SUBMITIT_LOCAL_GLOBALID": "0",
             "SUBMITIT_LOCAL_LOCALID": "0", "SUBMITIT_LOCAL_NODEID": "0", "SUBMITIT_LOCAL_JOB_NUM_NODES": "1"}


def _answer(overrides, cfg, folder: Path, value: float) -> JobReturn:
    return JobReturn(overrides=list(overrides), cfg=cfg, working_dir=str(folder), task_name=cfg.get("name"),
                     status=JobStatus.COMPLETED, _return_value=value)


if BaseSubmititLauncher is not None:

    class _Checked(BaseSubmititLauncher):
        """What both launchers do in the launching process: validate and plan, and record what died."""

        def __call__(self, *args, **kwargs):
            """In the job's process: OpenMP/torch threads follow SLURM's allocation (cpus_per_task), and DDP ranks
            started by srun know their local rank (reslab.entry lets only local rank 0 hold the run folder)."""
            if "SLURM_CPUS_PER_TASK" in os.environ:
                os.environ.setdefault("OMP_NUM_THREADS", os.environ["SLURM_CPUS_PER_TASK"])
            if "SLURM_LOCALID" in os.environ and int(os.environ.get("SLURM_NTASKS", 1)) > 1:
                os.environ.setdefault("LOCAL_RANK", os.environ["SLURM_LOCALID"])
            return super().__call__(*args, **kwargs)

        def _plan(self, job_overrides, initial_job_idx: int) -> tuple[list, list]:
            """Every job's config validated before anything starts; the answers of the jobs already finished in
            their folder, and (position, job number, overrides, folder) of the others."""
            from reslab.cluster import job_folder
            from reslab.config import validate
            from reslab.entry import finished

            answers, todo = [], []
            for position, overrides in enumerate(job_overrides):
                num = initial_job_idx + position
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
                with open_dict(cfg.hydra.job):
                    cfg.hydra.job.num = num
                folder = job_folder(cfg)
                task = copy.deepcopy(cfg)
                with read_write(task), open_dict(task):
                    del task["hydra"]
                checked = copy.deepcopy(task)
                with open_dict(checked):
                    checked.hydra = {"launcher": OmegaConf.to_container(cfg.hydra.launcher, resolve=True)}
                validate(checked)
                done = finished(folder, task, True)
                answers.append(_answer(overrides, task, folder, done.get(done.get("monitor", ""), math.nan))
                               if done else None)
                if done:
                    log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))} (finished: not run again)")
                else:
                    log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))}")
                    todo.append((position, num, list(overrides), folder))
            return answers, todo

        def _arguments(self, num: int, overrides: list) -> tuple:
            return overrides, "hydra.sweep.dir", num, f"job_id_for_{num}", Singleton.get_state()

        @staticmethod
        def _lost(overrides, folder: Path, reason: str) -> JobReturn:
            from reslab.cluster import record_lost

            print(f"[reslab] job failed: {reason}", file=sys.stderr)
            record_lost(folder, overrides, reason)
            return _answer(overrides, OmegaConf.create(), folder, math.nan)

    class ReslabSlurmLauncher(_Checked):
        """hydra-submitit-launcher's SLURM launcher, resumable and loss-free (see the package)."""

        _EXECUTOR = "slurm"

        def _executor(self):
            import submitit

            params = dict(self.params)
            folder = params.pop("submitit_folder")
            executor = submitit.AutoExecutor(cluster="slurm", folder=folder,
                                             slurm_max_num_timeout=params.pop("max_num_timeout", 0))
            shared = set(OmegaConf.structured(BaseQueueConf).keys())
            executor.update_parameters(**{k if k in shared else f"slurm_{k}": v for k, v in params.items()})
            return executor

        def launch(self, job_overrides, initial_job_idx):
            answers, todo = self._plan(job_overrides, initial_job_idx)
            if not todo:
                return answers
            Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
            jobs = self._executor().map_array(self, *zip(*(self._arguments(num, o) for _, num, o, _ in todo)))
            submitted = jobs[0].job_id.split("_")[0]  # an array of several jobs, a plain job for one
            print(f"[reslab] SLURM job {submitted}: {len(jobs)} job(s) (squeue -j {submitted}, sacct -j {submitted}); "
                  f"logs in {jobs[0].paths.folder.parent}", flush=True)
            last_sacct = 0.0
            while not all(job.done() for job in jobs):
                time.sleep(POLL_S)
                if time.time() - last_sacct > SACCT_S:
                    jobs[0].watcher.update()
                    last_sacct = time.time()
            for job, (position, _, overrides, folder) in zip(jobs, todo):
                try:
                    answers[position] = job.results()[0]
                except Exception as error:  # noqa: BLE001 - cancelled, timed out, killed: recorded, the sweep goes on
                    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                    answers[position] = self._lost(overrides, folder, f"SLURM job {job.job_id} {job.state}: {first}")
            return answers

    class IsolatedLauncher(_Checked):
        """Parallel jobs on this machine, one process each, at most `n_jobs` at once, each slot with its own GPUs."""

        _EXECUTOR = "local"

        def __init__(self, n_jobs=None, devices=None, gpus_per_job: int = 1, **params) -> None:
            super().__init__(**params)
            self.n_jobs, self.devices, self.gpus_per_job = n_jobs, devices, gpus_per_job

        def _start(self, num: int, overrides: list, gpus: list):
            """The job's process: submitit's runner (`python -m submitit.core._submit`) on the pickled job."""
            from submitit.core.utils import DelayedSubmission, JobPaths

            paths = JobPaths(Path(str(self.config.hydra.sweep.dir)) / ".submitit" / str(num), job_id=str(num))
            paths.folder.mkdir(parents=True, exist_ok=True)
            DelayedSubmission(self, *self._arguments(num, overrides)).dump(paths.submitted_pickle)
            env = {**os.environ, **LOCAL_ENV, "SUBMITIT_LOCAL_JOB_ID": str(num)}
            if gpus:  # the slot's own GPUs; without GPUs to share the environment stays as it is
                env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
            with paths.stdout.open("a") as out, paths.stderr.open("a") as err:
                process = subprocess.Popen([sys.executable, "-u", "-m", "submitit.core._submit", str(paths.folder)],
                                           env=env, stdout=out, stderr=err)
            return process, paths

        def launch(self, job_overrides, initial_job_idx):
            from reslab.cluster import exit_reason
            from reslab.config.launcher import gpu_slots, visible_devices

            devices = list(self.devices) if self.devices is not None else visible_devices()
            slots = gpu_slots(devices, self.n_jobs, self.gpus_per_job)
            with read_write(self.config.hydra.launcher), open_dict(self.config.hydra.launcher):
                self.config.hydra.launcher.n_jobs = len(slots)  # the jobs share the cores (cpu.threads=auto)
            answers, todo = self._plan(job_overrides, initial_job_idx)
            free, running = list(range(len(slots))), {}
            while todo or running:
                while todo and free:
                    slot = free.pop(0)
                    position, num, overrides, folder = todo.pop(0)
                    running[slot] = (*self._start(num, overrides, slots[slot]), position, num, overrides, folder)
                time.sleep(POLL_S)
                for slot, (process, paths, position, num, overrides, folder) in list(running.items()):
                    if process.poll() is None:
                        continue
                    del running[slot]
                    free.append(slot)
                    if process.returncode == 0 and paths.result_pickle.is_file():
                        outcome, value = pickle.loads(paths.result_pickle.read_bytes())
                        if outcome == "success":
                            answers[position] = value
                            continue
                    answers[position] = self._lost(overrides, folder, f"job {num} {exit_reason(process.returncode)}"
                                                   if process.returncode else f"job {num}: no result")
            return answers
