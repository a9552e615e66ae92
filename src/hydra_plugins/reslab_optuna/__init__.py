"""`hparams_search=optuna`: hydra-optuna-sweeper's search kept in a SQLite study in the sweep folder, so that a
killed search continues where it stopped.

A Hydra plugin lives in the `hydra_plugins` namespace (Hydra instantiates sweepers from there only), hence this
package next to `reslab`. It changes three things in the plugin's sweep and leaves the search itself to it:
- `storage: null` means `sqlite:///<sweep folder>/optuna.db` (the plugin's null keeps the study in memory);
- `n_trials` is the study's total: the same command again runs only the trials still missing, and the trials a kill
  interrupted run again with the same values (their job folders resume from their checkpoints);
- a restarted search re-seeds the sampler with `seed + trials so far`, so it does not propose the first run's values
  again (an uninterrupted search is the plugin's own, trial for trial).
"""
import logging

try:
    import optuna
    from hydra.utils import instantiate
    from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
except ImportError:  # reslab[launchers] not installed: no search, and no warning on every run from Hydra's scan
    OptunaSweeper = None

STUDY_FILE = "optuna.db"
log = logging.getLogger(__name__)

if OptunaSweeper is not None:
    from pathlib import Path

    from optuna.trial import TrialState

    DONE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

    class _ResumableImpl(OptunaSweeperImpl):
        def setup(self, *, hydra_context, task_function, config) -> None:
            super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
            self.sampler_config = config.hydra.sweeper.sampler
            if self.storage is None:
                folder = Path(config.hydra.sweep.dir).absolute()
                folder.mkdir(parents=True, exist_ok=True)
                self.storage = f"sqlite:///{folder / STUDY_FILE}"

        def sweep(self, arguments) -> None:
            study = optuna.create_study(study_name=self.study_name, storage=self.storage,
                                        directions=self._get_directions(), load_if_exists=True)
            trials = study.get_trials(deepcopy=False)
            done = sum(trial.state in DONE for trial in trials)
            if trials:
                killed = [trial for trial in trials if trial.state == TrialState.RUNNING]
                for trial in killed:  # failed as it stands; the same values again, first
                    study.tell(trial.number, state=TrialState.FAIL)
                    study.enqueue_trial(trial.params)
                seed = self.sampler_config.get("seed")
                if seed is not None:
                    self.sampler = instantiate(self.sampler_config, seed=int(seed) + len(trials))
                log.info(f"Study {self.study_name} continues: {done} of {self.n_trials} trials done, "
                         f"{len(killed)} interrupted (run again)")
            self.job_idx = len(trials)
            self.n_trials = max(self.n_trials - done, 0)
            super().sweep(arguments)

    class ResumableOptunaSweeper(OptunaSweeper):
        """hydra-optuna-sweeper's OptunaSweeper with the study in the sweep folder (see the module)."""

        def __init__(self, sampler, direction, storage, study_name, n_trials, n_jobs, max_failure_rate,
                     search_space, custom_search_space, params) -> None:
            self.sweeper = _ResumableImpl(sampler, direction, storage, study_name, n_trials, n_jobs,
                                          max_failure_rate, search_space, custom_search_space, params)
