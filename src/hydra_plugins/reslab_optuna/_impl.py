"""The search itself: hydra-optuna-sweeper's OptunaSweeperImpl with the study continued (see the package)."""
import logging
from pathlib import Path

import optuna
from hydra.utils import instantiate
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
from optuna.trial import TrialState

STUDY_FILE = "optuna.db"
DONE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
log = logging.getLogger(__name__)


class ResumableImpl(OptunaSweeperImpl):
    def setup(self, *, hydra_context, task_function, config) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        self.sampler_config = config.hydra.sweeper.sampler
        if self.storage is None:
            folder = Path(config.hydra.sweep.dir).absolute()
            folder.mkdir(parents=True, exist_ok=True)
            self.storage = f"sqlite:///{folder / STUDY_FILE}"

    def sweep(self, arguments) -> None:
        try:
            study = optuna.create_study(study_name=self.study_name, storage=self.storage,
                                        directions=self._get_directions(), load_if_exists=True)
        except Exception as error:  # noqa: BLE001 - a damaged file, another study's settings: say which store
            raise ValueError(f"optuna study {self.study_name!r} in {self.storage}: {error}") from error
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
