"""The sweep summary: a multirun folder read back from disk -> statistics -> tables, figures, report.html.

Modules, each importing only those above it in this list (numpy, scipy, matplotlib; never training code):
    jobs      a sweep folder -> Job / Group (a setting: the jobs that differ only in the seed) / Sweep
    stats     t-intervals, paired and Welch comparisons, Holm's correction, seeds needed at 80 % power
    curves    seed-averaged curves per setting, time to target
    timing    seconds per epoch from TensorBoard events when the history has none
    frontier  the cost frontier (Pareto-optimal settings on params, FLOPs, throughput)
    tables    the summary's sections as data (results, time to target, unfinished jobs), summary.csv, curves.csv
    compare   each variant against noshortcut: paired/Welch, Holm, seeds needed
    figures   the PNGs
    report    summarize(folder): everything above -> summary.md, report.html
    callback  Summary, the Hydra callback (swept keys at the start, the summary at the end of a multirun)
The swept keys and job folder names live in `reslab.sweep.keys` (a leaf shared with the config and `reslab.hparams`).

`reslab.sweep` exports the loading half (`load_sweep`, `FINISHED`, `Sweep`, ...: no matplotlib or scipy);
`summarize` is `reslab.sweep.report.summarize`.
"""
from reslab.sweep.jobs import BASELINE, FINISHED, SEED, Group, Job, Sweep, load_sweep

__all__ = ["BASELINE", "FINISHED", "SEED", "Group", "Job", "Sweep", "load_sweep"]
