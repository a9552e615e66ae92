"""`hydra.callbacks.summary`: what a multirun does in the launching process before and after its jobs.

Start: find the swept keys (command line and `hydra.sweeper.params`), record them in the sweep folder for the jobs
(their folder names, their TensorBoard HParams group) and write the sweep's HParams experiment. End: summarise the
folder, print the tables and a link to report.html. Hydra calls these for multiruns only; a single run never imports
the summary. A sweep that ends early (a signal, a killed worker) is summarised by `reslab.entry.cli`.
"""
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import OmegaConf

from reslab.hparams import write_experiment
from reslab.run_files import write_json, write_metrics
from reslab.sweep.keys import SWEPT_FILE, swept_domains
from reslab.tasks.catalog import DEFAULT_MONITOR


class Summary(Callback):
    def on_multirun_start(self, config, **kwargs) -> None:
        params = OmegaConf.select(config, "hydra.sweeper.params", default=None)
        params = OmegaConf.to_container(params) if params is not None else {}
        try:
            domains = swept_domains(list(config.hydra.overrides.task), params)
        except Exception as error:  # noqa: BLE001 - a sweeper whose params Hydra's parser does not read
            print(f"[reslab] swept keys unknown ({type(error).__name__}: {error}): job folders are numbered")
            domains = {}
        write_json(Path(config.hydra.sweep.dir) / SWEPT_FILE, domains)  # read by every job (sweep.keys)
        # Hydra sets its runtime config for each job, not for the launching process: set it to the sweep's, so that
        # the command line finds the sweep folder if the launch ends early (basic launcher: the jobs' own replace it)
        HydraConfig.instance().set_config(config)
        try:
            monitor = OmegaConf.select(config, "task.monitor", default=DEFAULT_MONITOR)
            write_experiment(config.hydra.sweep.dir, config, domains, monitor)
        except Exception as error:  # noqa: BLE001 - the HParams tab is a convenience: never stop a sweep for it
            print(f"[reslab] no HParams experiment for the sweep ({type(error).__name__}: {error})")

    def on_multirun_end(self, config, **kwargs) -> None:
        folder = Path(config.hydra.sweep.dir)
        target = OmegaConf.select(config, "summary.target", default=None)
        try:
            path = summarize(folder, target=target)
        except Exception as error:  # noqa: BLE001 - the jobs' results are safe on disk; say how to retry
            print(f"[reslab] no summary ({type(error).__name__}: {error}); "
                  f"retry with: python scripts/summarize.py {folder}")
            return
        print(path.read_text().split("\n## Figures")[0])
        print(f"[reslab] summary: {path}")
        print(f"[reslab] report: {(folder / 'report.html').resolve().as_uri()}")


def summarize_ended_early(line: str) -> None:
    """A multirun that ended part-way (a signal; a joblib worker killed: joblib stops the whole batch): every job
    left without a record is recorded `failed` with `line` (the signal, for a kill), and the sweep folder still
    gets its summary. The same command with hydra.sweep.dir=<folder> then finishes the sweep. The sweep folder is
    read from Hydra's runtime config (set for the sweep by `Summary.on_multirun_start`, or by the last job).
    Nothing happens outside a multirun."""
    hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
    if hydra_cfg is None or hydra_cfg.mode != RunMode.MULTIRUN:
        return
    folder = Path(hydra_cfg.sweep.dir)
    if not (folder / "multirun.yaml").is_file() or not any(folder.glob("*/.hydra")):  # refused before any job
        return
    for hydra_dir in folder.glob("*/.hydra"):
        if not (hydra_dir.parent / "metrics.json").exists():
            write_metrics(hydra_dir.parent, {"status": "failed", "error": line[:400]})
    print(f"[reslab] summary of the interrupted sweep: {summarize(folder)}; finish it with the same command and "
          f"hydra.sweep.dir={folder}", file=sys.stderr)


def summarize(folder: Path, target=None) -> Path:
    """`reslab.sweep.report.summarize`, imported when a sweep ends: it loads matplotlib and scipy, and this module is
    loaded in every run (Hydra builds its callbacks for single runs too; the command line imports it before it
    validates), which should not pay for them."""
    from reslab.sweep.report import summarize as report

    return report(folder, target=target)
