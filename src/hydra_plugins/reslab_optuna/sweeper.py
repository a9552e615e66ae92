"""The sweeper class Hydra instantiates (`hydra.sweeper._target_` of conf/hparams_search/optuna.yaml)."""
import logging

# optuna imports alembic, which logs a dozen INFO lines; Hydra builds the sampler (importing optuna) before the
# sweeper, so this is said when Hydra's scan imports this module.
logging.getLogger("alembic").setLevel(logging.WARNING)

try:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
except ImportError:  # reslab[launchers] not installed: no search, and no warning from Hydra's scan on every run
    OptunaSweeper = None

if OptunaSweeper is not None:

    class ResumableOptunaSweeper(OptunaSweeper):
        """hydra-optuna-sweeper's OptunaSweeper with the study in the sweep folder (see the package)."""

        def __init__(self, sampler, direction, storage, study_name, n_trials, n_jobs, max_failure_rate,
                     search_space, custom_search_space, params) -> None:
            from hydra_plugins.reslab_optuna._impl import ResumableImpl  # optuna: only when a search starts

            self.sweeper = ResumableImpl(sampler, direction, storage, study_name, n_trials, n_jobs,
                                         max_failure_rate, search_space, custom_search_space, params)
