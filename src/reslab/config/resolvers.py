"""OmegaConf resolvers used by conf/: registered when `reslab.config` is imported (train.py does so first).

- `${run_dir:}`: the folder of the run being written (loggers, checkpoints, Lightning's root dir point into it);
  kept unresolved in the saved .hydra/config.yaml, so a moved or copied run folder resumes where it now lies.
- `${run_folder:${resume},<default>}`: a resumed run's folder, else `<default>` made unique: `-2`, `-3`, ... is
  appended when the folder exists (two runs started in the same second get folders of their own).
  `${unique_dir:<path>}` does the same for a sweep folder. `${unless_resume:${resume},<value>}`: a resumed run
  keeps the .hydra/ config it started with.
- `${swept_dirname:${hydra.overrides.task},${hydra.job.num}}`: a multirun job's folder name, its values of the swept
  keys only (reslab/swept.py).
"""
from pathlib import Path

from omegaconf import OmegaConf

from reslab.sweep.keys import job_dirname  # a leaf: stdlib + Hydra's override parser

_run_dir = [Path(".")]


def set_run_dir(folder) -> None:
    """Make `${run_dir:}` resolve to `folder` (the entry point and `reslab.run.run` call this first)."""
    _run_dir[0] = Path(folder)


def run_dir() -> str:
    return str(_run_dir[0])


_chosen: dict[str, str] = {}


def unique_dir(path: str) -> str:
    """`path`, or `path-2`, `path-3`, ... : the first that this process could create (an atomic mkdir, so that
    two processes never get the same one). The same answer for the same `path` within a process."""
    if path not in _chosen:
        candidate, n = path, 1
        while True:
            try:
                Path(candidate).mkdir(parents=True, exist_ok=False)
                break
            except FileExistsError:
                n += 1
                candidate = f"{path}-{n}"
            except OSError:  # unwritable: hydra.run.dir's check (reslab.outdir) says so in one line
                break
        _chosen[path] = candidate
    return _chosen[path]


def run_folder(resume, default: str) -> str:
    return unique_dir(default) if resume is None else str(resume)


OmegaConf.register_new_resolver("run_dir", run_dir, replace=True)
OmegaConf.register_new_resolver("run_folder", run_folder, replace=True, use_cache=True)
OmegaConf.register_new_resolver("unique_dir", unique_dir, replace=True, use_cache=True)
OmegaConf.register_new_resolver("unless_resume", lambda resume, value: value if resume is None else None,
                                replace=True)
# hydra.sweep.subdir: a job's folder named by the keys its multirun sweeps (model=csp,depth=56,seed=0).
OmegaConf.register_new_resolver("swept_dirname", job_dirname, replace=True)
