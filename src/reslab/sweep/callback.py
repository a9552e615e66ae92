"""`hydra.callbacks.summary`: what a multirun does in the launching process before and after its jobs.

Start: find the swept keys (command line and `hydra.sweeper.params`), export them to the jobs (their folder names,
their TensorBoard HParams group) and write the sweep's HParams experiment. End: summarise the folder, print the
tables and a link to report.html. Hydra calls these for multiruns only; a single run never imports the summary.
"""
import os
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from reslab import swept as naming
from reslab.tasks.catalog import DEFAULT_MONITOR


SWEEP_DIR = "RESLAB_SWEEP_DIR"  # the running multirun's folder (reslab.entry summarises it when a launch fails)


class Summary(Callback):
    def on_multirun_start(self, config, **kwargs) -> None:
        params = OmegaConf.select(config, "hydra.sweeper.params", default=None)
        params = OmegaConf.to_container(params) if params is not None else {}
        try:
            domains = naming.swept_domains(list(config.hydra.overrides.task), params)
        except Exception as error:  # noqa: BLE001 - a sweeper whose params Hydra's parser does not read
            print(f"[reslab] swept keys unknown ({type(error).__name__}: {error}): job folders are numbered")
            domains = {}
        naming.export(domains)
        os.environ[SWEEP_DIR] = str(config.hydra.sweep.dir)  # for the command line, if the launcher fails
        try:
            from reslab.hparams import write_experiment

            monitor = OmegaConf.select(config, "task.monitor", default=DEFAULT_MONITOR)
            write_experiment(config.hydra.sweep.dir, config, domains, monitor)
        except Exception as error:  # noqa: BLE001 - the HParams tab is a convenience: never stop a sweep for it
            print(f"[reslab] no HParams experiment for the sweep ({type(error).__name__}: {error})")

    def on_multirun_end(self, config, **kwargs) -> None:
        os.environ.pop(naming.ENV, None)
        folder = Path(config.hydra.sweep.dir)
        target = OmegaConf.select(config, "summary.target", default=None)
        try:
            from reslab.sweep.report import summarize

            path = summarize(folder, target=target)
        except Exception as error:  # noqa: BLE001 - the jobs' results are safe on disk; say how to retry
            print(f"[reslab] no summary ({type(error).__name__}: {error}); "
                  f"retry with: python scripts/summarize.py {folder}")
            return
        print(path.read_text().split("\n## Figures")[0])
        print(f"[reslab] summary: {path}")
        print(f"[reslab] report: {(folder / 'report.html').resolve().as_uri()}")
