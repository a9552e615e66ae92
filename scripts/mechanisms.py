"""The mechanisms instruments on a finished run folder, or on every finished job of a sweep folder, without retraining.

    python scripts/mechanisms.py outputs/<date>/<time>                   # every instrument (mechanisms=full)
    python scripts/mechanisms.py outputs/<date>/<time> --only lesion,cka
    python scripts/mechanisms.py multirun/<date>/<time>                  # each finished job, then the sweep report

Lesions, gradient by path length and CKA are measured on the run's checkpoint (best, else last); signal
propagation and shattered gradients on the network at initialisation, rebuilt from the run's saved config and
seed (the same weights the run started from, on the CPU). The settings are the run's own `callbacks.mechanisms`
when it had them, else conf/mechanisms/full.yaml's. Each instrument writes <name>.csv and <name>.png into the run
folder and its headline numbers into metrics.json (keys `<name>/...`). A sweep folder's summary.md and report.html
are then rewritten with the mechanisms section.
"""
import argparse
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from reslab.callbacks.mechanisms import AFTER_TRAINING, AT_INIT, INSTRUMENTS
from reslab.checkpoint_files import load_run
from reslab.errors import UsageError, run_or_sweep
from reslab.run_files import read_json, write_metrics
from reslab.sweep import FINISHED, load_sweep
from reslab.sweep.report import summarize
from reslab.tasks import build

ROOT = Path(__file__).resolve().parents[1]


def full_settings():
    """conf/mechanisms/full.yaml's callback spec, composed as `python train.py mechanisms=full` would."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=["mechanisms=full"]).callbacks.mechanisms


def analyse(run_dir: Path, only: list[str], checkpoint: str, device: str | None) -> dict:
    """Measure the instruments of `only` on one run folder; returns the new metrics.json entries."""
    cfg, data, task, _ = load_run(run_dir, checkpoint)
    if cfg.task.name != "classification":
        raise UsageError(f"{str(run_dir)!r} is a task={cfg.task.name} run: the instruments need task=classification")
    spec = (cfg.get("callbacks") or {}).get("mechanisms")
    instruments = instantiate(spec or full_settings())
    for name in instruments.settings:
        if only and name not in only:
            instruments.settings[name] = None
        elif only and instruments.settings[name] is None:  # asked for, off in the run: conf/mechanisms/full.yaml's
            instruments.settings[name] = dict(full_settings()[name])
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    found = instruments.measure(AFTER_TRAINING, task.model.to(device), data, run_dir)
    if any(instruments.settings[name] for name in AT_INIT):
        L.seed_everything(cfg.seed, verbose=False)  # as reslab.run.run: the seed, then the build
        init_data, init_task = build(cfg)
        found.update(instruments.measure(AT_INIT, init_task.model.to(device), init_data, run_dir))
    metrics = read_json(run_dir / "metrics.json") or {}
    write_metrics(run_dir, {**metrics, **found})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a run folder (holds .hydra/ and checkpoints/) or a sweep folder")
    parser.add_argument("--only", default="", help="comma-separated instruments: signal, shattered, lesion, "
                                                   "path_length, cka (default: every one the settings turn on)")
    parser.add_argument("--checkpoint", default="best-else-last", help="best, last, best-else-last or a .ckpt path")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    args = parser.parse_args()
    only = [name for name in args.only.split(",") if name]
    unknown = [name for name in only if name not in INSTRUMENTS]
    if unknown:
        parser.error(f"--only {unknown[0]} is not an instrument: choose from {', '.join(INSTRUMENTS)}")
    def on_run(folder: Path) -> None:
        found = analyse(folder, only, args.checkpoint, args.device)
        print("\n".join(f"{k}: {v}" for k, v in found.items()))
        print(f"written: {folder}/<instrument>.csv and .png, metrics.json, mechanisms_seconds.json")

    def on_sweep(folder: Path) -> None:
        jobs = [job for job in load_sweep(folder).jobs if job.status == FINISHED]
        if not jobs:
            raise UsageError(f"no finished job in {str(folder)!r}: pass a run or sweep folder")
        for job in jobs:
            analyse(job.path, only, args.checkpoint, args.device)
            print(f"measured: {job.path}")
        print(f"written: {summarize(folder)}")

    run_or_sweep(args.folder, on_run, on_sweep)


if __name__ == "__main__":
    main()
