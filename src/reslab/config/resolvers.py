"""OmegaConf resolvers used by conf/: registered when `reslab.config` is imported (train.py does so first). Each is
a pure function of its arguments and of what is on disk: none writes or creates anything, none keeps state (an
answer that must stay the same is cached by OmegaConf in the config itself, `use_cache=True`).

- `${output_dir:}`: Hydra's `hydra.runtime.output_dir` (the folder of the running job), "." outside a Hydra job.
  `trainer.default_root_dir` says it and every other path of the run (checkpoints, loggers) points into
  `${trainer.default_root_dir}`; `reslab.run.run(cfg, run_dir)` sets it to the folder it writes, so the saved
  .hydra/config.yaml keeps it unresolved and a moved or copied run folder resumes where it now lies.
- `${run_folder:${resume},<default>}`: a resumed run's folder, else `unique_dir(<default>)`.
- `${unique_dir:<path>}`: `<path>`, or `<path>-2`, `<path>-3`, ... : the first that does not exist. The folder
  itself is made, atomically, where the run starts (`reslab.outdir.CheckOutputDir`).
- `${unless_resume:${resume},<value>}`: a resumed run keeps the .hydra/ config it started with.
- `${swept_dirname:${hydra.overrides.task},${hydra.job.num},${hydra.sweep.dir}}`: a multirun job's folder name, its
  values of the swept keys only (reslab/sweep/keys.py).
"""
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from reslab.sweep.keys import job_dirname  # a leaf: stdlib + Hydra's override parser


def output_dir() -> str:
    """The running job's folder; "." outside a Hydra job (also where a launcher validates its jobs' configs before
    any of them runs: the launching process has no job folder)."""
    if not HydraConfig.initialized():
        return "."
    return str(OmegaConf.select(HydraConfig.get(), "runtime.output_dir", default=".") or ".")


def unique_dir(path: str) -> str:
    candidate, n = path, 1
    while Path(candidate).exists():
        n += 1
        candidate = f"{path}-{n}"
    return candidate


def run_folder(resume, default: str) -> str:
    return unique_dir(default) if resume is None else str(resume)


OmegaConf.register_new_resolver("output_dir", output_dir, replace=True)
OmegaConf.register_new_resolver("run_folder", run_folder, replace=True, use_cache=True)
OmegaConf.register_new_resolver("unique_dir", unique_dir, replace=True, use_cache=True)
OmegaConf.register_new_resolver("unless_resume", lambda resume, value: value if resume is None else None,
                                replace=True)
# hydra.sweep.subdir: a job's folder named by the keys its multirun sweeps (model=csp,depth=56,seed=0).
OmegaConf.register_new_resolver("swept_dirname", job_dirname, replace=True)
