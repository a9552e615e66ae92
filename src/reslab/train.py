"""`run(cfg, run_dir) -> metrics`: validate, build data + model + task, fit, test, write metrics.json.

Heavy imports (torch, Lightning) happen after validation so that a bad config fails in well under a second.
"""
import errno
import json
import math
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from reslab.config import validate


def _precision(cfg, cuda: bool) -> str:
    if str(cfg.trainer.precision) != "auto":
        return str(cfg.trainer.precision)
    return "bf16-mixed" if cuda else "32-true"


def _logger(cfg, run_dir: Path, purge_step: int | None):
    """The run's logger; `purge_step` (when resuming) hides events a killed run logged past its last checkpoint."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    name = cfg.logger.name
    if name == "tensorboard":
        return TensorBoardLogger(run_dir, name="tensorboard", version="", default_hp_metric=False,
                                 purge_step=purge_step)
    if name == "csv":
        return CSVLogger(run_dir, name="csv", version="")
    return False


def build_trainer(cfg: DictConfig, run_dir: Path, monitor: str, callbacks: list, purge_step: int | None = None):
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar

    from reslab.callbacks import History, SeedEachEpoch, StopOnDivergence

    t = cfg.trainer
    cuda = torch.cuda.is_available() and t.accelerator in ("auto", "gpu", "cuda")
    logger = _logger(cfg, run_dir, purge_step)
    callbacks = [
        ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=monitor, mode="max",
                        save_last=True),
        History(monitor),
        StopOnDivergence(t.log_every_n_steps),
        SeedEachEpoch(cfg.seed),
        # Reads the step metrics off the device (a GPU sync) only when it refreshes; Rich's bar reads every step.
        TQDMProgressBar(refresh_rate=t.log_every_n_steps),
        *callbacks,
    ]
    if logger:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    return L.Trainer(
        default_root_dir=run_dir, max_epochs=cfg.epochs, accelerator=t.accelerator, devices=t.devices,
        num_nodes=t.num_nodes, strategy=t.strategy, precision=_precision(cfg, cuda), logger=logger,
        callbacks=callbacks,
        accumulate_grad_batches=t.accumulate_grad_batches, gradient_clip_val=t.gradient_clip_val,
        deterministic=t.deterministic, benchmark=cuda and not t.deterministic,
        log_every_n_steps=t.log_every_n_steps, num_sanity_val_steps=t.num_sanity_val_steps,
        enable_model_summary=False)


def run(cfg: DictConfig, run_dir: Path) -> dict:
    """Train and test one configuration; returns (and writes to run_dir/metrics.json) the final metrics."""
    validate(cfg)
    start = time.perf_counter()
    import lightning as L

    from reslab.checkpoints import load_checked, start_checkpoint
    from reslab.diagnostics import diagnostics_callbacks
    from reslab.landscape import landscape_callbacks
    from reslab.tasks import build

    run_dir = Path(run_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    data, task = build(cfg)
    ckpt = start_checkpoint(cfg, run_dir)
    step = load_checked(ckpt, task)["global_step"] if ckpt else None
    callbacks = [*diagnostics_callbacks(cfg, run_dir), *landscape_callbacks(cfg)]
    trainer = build_trainer(cfg, run_dir, monitor=task.monitor, callbacks=callbacks,
                            purge_step=step if cfg.resume else None)
    if trainer.logger and not cfg.resume:
        _log_hparams(trainer.logger, cfg, task.monitor)
    write_versions(run_dir)
    trainer.fit(task, datamodule=data, ckpt_path=ckpt, weights_only=True)
    best = trainer.checkpoint_callback.best_model_path
    tested = {}
    if best:  # test the best weights; trainer.test(ckpt_path=...) would also rewind the callbacks' history
        task.load_state_dict(load_checked(Path(best), task)["state_dict"])
        tested = trainer.test(task, datamodule=data, verbose=False)[0]
    metrics = _collect(cfg, trainer, task, tested, time.perf_counter() - start)
    if trainer.logger:
        trainer.logger.log_metrics({f"hp/{k}": metrics.get(k, math.nan) for k in _hp_keys(task.monitor)},
                                   step=trainer.global_step)
    if trainer.is_global_zero:  # DDP: one record per run
        write_metrics(run_dir, metrics)
    return metrics


def _hp_keys(monitor: str) -> tuple:
    """The final metrics shown as columns of TensorBoard's HParams tab (as hp/<key>)."""
    return (monitor, monitor.replace("val/", "test/"), "train/loss", "params", "flops", "throughput", "peak_mem_mb")


def _log_hparams(logger, cfg: DictConfig, monitor: str) -> None:
    """The config as hyperparameters; TensorBoard also gets the hp/ metric columns (filled in at the end) so its
    HParams tab lists each run's final results (it shows only metrics declared here)."""
    from lightning.pytorch.loggers import TensorBoardLogger

    if isinstance(logger, TensorBoardLogger):
        logger.log_hyperparams(_flat(cfg), {f"hp/{k}": 0 for k in _hp_keys(monitor)})
    else:
        logger.log_hyperparams(_flat(cfg))


def _flat(cfg: DictConfig) -> dict:
    """The config as flat `a/b: value` pairs for TensorBoard's HParams tab."""
    out = {}

    def walk(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}/")
            else:
                out[prefix + key] = value if isinstance(value, (int, float, str, bool)) else str(value)

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return out


def _collect(cfg, trainer, task, tested: dict, wall: float) -> dict:
    """Final metrics; callbacks with a `summary()` (history, diagnostics) add their own keys.

    `monitor` names the task's key (val/acc for classification); its value is the best validation score.
    """
    score = trainer.checkpoint_callback.best_model_score
    metrics = {
        "status": "ok",
        "task": cfg.task.name,
        "monitor": task.monitor,
        task.monitor: float(score) if score is not None else math.nan,
        **tested,
        "params": sum(p.numel() for p in task.model.parameters()),
        "epochs": trainer.current_epoch,
        "wall_time_s": round(wall, 3),
        "seed": cfg.seed,
    }
    for callback in trainer.callbacks:
        if hasattr(callback, "summary"):
            metrics.update(callback.summary())
    return metrics


def write_versions(run_dir: Path) -> None:
    """Package versions next to Hydra's resolved config, so a result can be reproduced."""
    import platform
    from importlib.metadata import version

    packages = ("reslab", "torch", "torchvision", "lightning", "torchmetrics", "hydra-core", "omegaconf", "numpy")
    info = {"python": platform.python_version(), "platform": platform.platform(),
            **{name: version(name) for name in packages}}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "versions.json").write_text(json.dumps(info, indent=2))


def write_metrics(run_dir: Path, metrics: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=2, default=float, allow_nan=True))
    tmp.replace(run_dir / "metrics.json")


# Errors of the output folder (unwritable, full, read-only) that a user fixes, reported in one line.
DISK_ERRORS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENOTDIR}


def job(cfg: DictConfig) -> float:
    """The Hydra task: one run in Hydra's run folder. Returns the monitored metric for sweepers.

    In a multirun a failing job is recorded (`metrics.json` status `failed`) and the sweep goes on;
    in a single run a bad config prints one line and exits 2, any other error is recorded and re-raised.
    """
    import os
    import sys

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from reslab.checkpoints import check_paths, resumed_config
    from reslab.ddp import ddp_in_this_job
    from reslab.errors import ConfigError

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        if cfg.resume is not None:
            check_paths(cfg)
            cfg = resumed_config(cfg.resume, list(hydra_cfg.overrides.task))
        with ddp_in_this_job(hydra_cfg):  # DDP ranks >= 1 re-run this job, in its folder
            metrics = run(cfg, run_dir)
    except Exception as error:  # noqa: BLE001 - recorded, then re-raised unless a sweep must go on
        line = f"{type(error).__name__}: {error}".splitlines()[0]
        user_error = isinstance(error, ConfigError) or (isinstance(error, OSError) and error.errno in DISK_ERRORS)
        try:
            if not (run_dir / "metrics.json").exists():  # never clobber the record of a finished run
                write_metrics(run_dir, {"status": "failed", "error": line})
        except OSError:
            pass  # the folder itself is unwritable: the message below says so
        if multirun:
            print(f"[reslab] job failed: {line}", file=sys.stderr)
            return math.nan
        if user_error and os.environ.get("HYDRA_FULL_ERROR") != "1":
            print(f"error: {error if isinstance(error, ConfigError) else line}", file=sys.stderr)
            sys.exit(2)
        raise
    key = metrics["monitor"]
    test_key = key.replace("val/", "test/")
    print(f"[reslab] {metrics['status']}: {test_key}={metrics.get(test_key, math.nan):.4f} {key}={metrics[key]:.4f}"
          f" train/loss={metrics['train/loss']:.4g} ({metrics['wall_time_s']:.1f} s) -> {run_dir}")
    return metrics[key]
