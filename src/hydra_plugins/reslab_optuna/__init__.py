"""`hparams_search=optuna`: hydra-optuna-sweeper's search kept in a SQLite study in the sweep folder, so that a
killed search continues where it stopped.

A Hydra plugin lives in the `hydra_plugins` namespace (Hydra instantiates sweepers from there only), hence this
package next to `reslab`. It changes three things in the plugin's sweep and leaves the search itself to it:
- `storage: null` means `sqlite:///<sweep folder>/optuna.db` (the plugin's null keeps the study in memory);
- `n_trials` is the study's total: the same command again runs only the trials still missing, and the trials a kill
  interrupted run again with the same values (their job folders resume from their checkpoints);
- a restarted search re-seeds the sampler with `seed + trials so far`, so it does not propose the first run's values
  again (an uninterrupted search is the plugin's own, trial for trial).

Hydra imports `sweeper` (light) on every run when it scans for plugins; optuna is imported by `_impl` (a
leading underscore: not scanned) only when a search starts.
"""
