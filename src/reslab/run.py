"""`run(cfg, run_dir) -> metrics`: build the data and task, the Trainer with its callbacks and loggers from the
config, fit, test, write metrics.json. Takes a validated config (reslab.entry validates before importing this).

A run's `status` is decided here, once: `ok` or `diverged` (training ended, `stopped_by` says why) in `collect`,
`interrupted` (a SIGTERM or SIGINT, with the signal named) in `interrupted`; `failed` (an error) in reslab.entry.
"""
import math
import platform
import time
from importlib.metadata import version
from pathlib import Path

import lightning as L
import torch
import torch.distributed as dist
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, Timer
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException
from omegaconf import DictConfig

from reslab import cluster, hparams, host
from reslab.callbacks import StopOnDivergence
from reslab.checkpoint_files import load_checked, start_checkpoint
from reslab.config.resume import digest, save_resumed
from reslab.errors import Interrupted, UserError
from reslab.run_files import hydra_record, read_json, write_json, write_metrics
from reslab.tasks import build

STEP_POINTS = 5  # reslab's log_every_n_steps gives each epoch about this many points (at most every 50 steps)


def run(cfg: DictConfig, run_dir, threads: int | None = None, changes: tuple[str, ...] = ()) -> dict:
    """Train and test one configuration in `run_dir` with `threads` torch threads (default: `cpu.threads` for
    one job); returns (and writes to metrics.json) the final metrics. `changes`: the overrides a resume applies
    (`epochs=60`): written into the folder's .hydra/config.yaml once the checkpoint has been checked against the
    network, and listed in metrics.json (`resumed_with`). A SIGTERM or SIGINT stops the run at the end of a batch:
    recorded (`interrupted`), then `Interrupted` is raised. A DDP process group the fit opened is closed at the end:
    Hydra's basic launcher runs the next job in this process."""
    try:
        return _run(cfg, run_dir, threads, changes)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _run(cfg: DictConfig, run_dir, threads: int | None, changes: tuple[str, ...]) -> dict:
    run_dir = Path(run_dir)
    cfg.trainer.default_root_dir = str(run_dir)  # every path of the run points here: ${trainer.default_root_dir}
    cpu = host.set_up(torch, threads or host.threads_for(cfg.cpu.threads, 1), cfg.cpu.flush_denormal)
    start = time.perf_counter()  # after the imports: every job of a sweep counts the same work
    trainer = None
    try:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        data, task = build(cfg)
        ckpt = start_checkpoint(cfg, run_dir)
        step = load_checked(ckpt, task)["global_step"] if ckpt else 0
        resumed_with = []
        if cfg.resume is not None:
            resumed_with = [*(read_json(run_dir / "metrics.json") or {}).get("resumed_with", []), *changes]
            if changes:  # checked whole (config, checkpoint): the folder's config now says what the run is
                save_resumed(cfg, run_dir)
        trainer = build_trainer(cfg, data, purge_step=step if cfg.resume else None)
        if trainer.loggers and not (cfg.resume and ckpt):
            hparams.log_start(*by_kind(trainer.loggers), cfg)
        write_versions(run_dir, cfg)
        trainer.fit(task, datamodule=data, ckpt_path=ckpt, weights_only=True)
        save_final_state(trainer)
        tested = test(trainer, task, data)
    except MisconfigurationException as error:  # Lightning refusing a setting: bad input, one line
        raise UserError(f"MisconfigurationException: {error}".splitlines()[0]) from error
    except (KeyboardInterrupt, SystemExit) as stop:
        name = signal_of(stop)
        if name is None:
            raise
        raise interrupted(run_dir, cfg, trainer, name) from None
    metrics = {**collect(cfg, trainer, task, tested, time.perf_counter() - start), **cpu}
    if resumed_with:
        metrics["resumed_with"] = resumed_with
    if trainer.is_global_zero:  # DDP: one record per run; the loggers' final records first, then metrics.json
        hparams.log_final(*by_kind(trainer.loggers), metrics, task.monitor, trainer.global_step)
        for logger in trainer.loggers:
            logger.finalize("success")
        write_metrics(run_dir, metrics)
    return metrics


def by_kind(loggers) -> tuple[list, list]:
    """(the TensorBoard loggers, the others): TensorBoard's get reslab's HParams tab (reslab.hparams)."""
    boards = [logger for logger in loggers if isinstance(logger, TensorBoardLogger)]
    return boards, [logger for logger in loggers if not isinstance(logger, TensorBoardLogger)]


def signal_of(stop: BaseException) -> str | None:
    """The signal that `stop` (raised out of a fit or a test) stands for, or None for another exit: Lightning's
    SIGTERMException (raised at the end of a batch), reslab's `Interrupted`, Lightning's sys.exit(1) after a
    KeyboardInterrupt."""
    if isinstance(stop, Interrupted):
        return stop.signal
    if isinstance(stop, SIGTERMException):
        return "SIGTERM"
    if isinstance(stop, SystemExit) and isinstance(stop.__context__, KeyboardInterrupt):
        return signal_of(stop.__context__) or "SIGINT"
    return "SIGINT" if isinstance(stop, KeyboardInterrupt) else None


def interrupted(run_dir: Path, cfg: DictConfig, trainer: L.Trainer | None, name: str) -> Interrupted:
    """Record a run stopped by signal `name` (metrics.json status `interrupted`; a finished record stays as it is)
    and the one line saying how to continue it."""
    kept = trainer.checkpoint_callbacks if trainer is not None else []
    saved = max((c.last_model_path or c.best_model_path for c in kept if isinstance(c, ModelCheckpoint)), default="")
    where = f"from {Path(saved).relative_to(run_dir) if saved else 'its first epoch'}"
    line = f"stopped by {name}: continue it ({where}) with: python train.py resume={run_dir}"
    done = read_json(run_dir / "metrics.json") or {}
    if done.get("status") not in ("ok", "diverged") and (trainer is None or trainer.is_global_zero):
        write_metrics(run_dir, {"status": "interrupted", "signal": name, "error": line, "seed": cfg.seed,
                                "epochs": trainer.current_epoch if trainer is not None else 0,
                                "resumed_with": done.get("resumed_with", [])})
    return Interrupted(name, line)


def build_trainer(cfg: DictConfig, data, purge_step: int | None = None, extra_callbacks: tuple = ()) -> L.Trainer:
    """`instantiate(cfg.trainer, callbacks=..., logger=...)`, filling in reslab's choices where the config says
    null: precision (bf16-mixed on CUDA, else 32-true), log_every_n_steps (about STEP_POINTS points per epoch)
    and cuDNN benchmark (on CUDA unless deterministic). `purge_step` (resuming) makes TensorBoard hide what a
    killed run logged past its last checkpoint; `extra_callbacks` are added to the config's (scripts, tests)."""
    t = cfg.trainer
    cuda = torch.cuda.is_available() and t.accelerator in ("auto", "gpu", "cuda")
    chosen = {}
    if t.precision is None:
        chosen["precision"] = "bf16-mixed" if cuda else "32-true"
    if t.log_every_n_steps is None:
        batches = math.ceil(len(data.splits.train) / cfg.batch_size)
        chosen["log_every_n_steps"] = max(1, min(50, batches // STEP_POINTS))
    if t.benchmark is None:
        chosen["benchmark"] = cuda and not t.deterministic
    callbacks = [instantiate(spec) for spec in (cfg.callbacks or {}).values() if spec] + list(extra_callbacks)
    loggers = []
    for spec in (cfg.logger or {}).values():
        if spec:
            resumed = purge_step is not None and issubclass(get_class(spec._target_), TensorBoardLogger)
            loggers.append(instantiate(spec, **({"purge_step": purge_step} if resumed else {})))
    if not loggers:  # Lightning's LearningRateMonitor refuses to run without a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    return instantiate(t, callbacks=callbacks, logger=loggers or False, **chosen)


def best_checkpoint(trainer: L.Trainer, monitor: str) -> ModelCheckpoint | None:
    return next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.monitor == monitor),
                None)


def save_final_state(trainer: L.Trainer) -> None:
    """Rewrite the epoch-end checkpoints (last.ckpt) once training has ended, so that they also hold what the
    callbacks measured at the end (final gradients, WRC weights, curvature): a run killed during its test then
    resumes to the same metrics.json without training again."""
    for callback in trainer.checkpoint_callbacks:
        path = callback.last_model_path or callback.best_model_path  # without a monitor the best is the newest
        if isinstance(callback, ModelCheckpoint) and callback.monitor is None and path \
                and not trainer.interrupted and not trainer.fast_dev_run:
            trainer.save_checkpoint(path, weights_only=False)


def test(trainer: L.Trainer, task, data) -> dict:
    """The test metrics of the best checkpoint's weights (the current ones when there is none: fast_dev_run, no
    checkpoint callback). Loading by hand: trainer.test(ckpt_path=...) would also rewind the callbacks' history."""
    best = best_checkpoint(trainer, task.monitor)
    if best is not None and best.best_model_path:
        task.load_state_dict(load_checked(Path(best.best_model_path), task)["state_dict"])
    results = trainer.test(task, datamodule=data, verbose=False)
    return results[0] if results else {}


def stopped_by(trainer: L.Trainer) -> str:
    """Why training ended: epochs (all of them), max_steps, max_time, early_stopping or diverged."""
    for callback in trainer.callbacks:
        if isinstance(callback, StopOnDivergence) and callback.diverged_at is not None:
            return "diverged"
        if isinstance(callback, EarlyStopping) and callback.stopped_epoch > 0:
            return "early_stopping"
        if isinstance(callback, Timer) and callback.time_remaining() is not None and callback.time_remaining() <= 0:
            return "max_time"
    if 0 < trainer.max_steps <= trainer.global_step:
        return "max_steps"
    return "epochs"


def collect(cfg, trainer: L.Trainer, task, tested: dict, wall: float) -> dict:
    """Final metrics; callbacks with a `summary()` (history, diagnostics) add their own keys, never the status.
    `monitor` names the task's key (val/acc for classification); its value is the best validation score."""
    best = best_checkpoint(trainer, task.monitor)
    score = best.best_model_score if best is not None else None
    if score is None:  # no checkpoint written (fast_dev_run) or no checkpoint callback: the last validation
        score = trainer.callback_metrics.get(task.monitor)
    why = stopped_by(trainer)
    metrics = {
        "status": "diverged" if why == "diverged" else "ok",
        "task": cfg.task.name,
        "monitor": task.monitor,
        task.monitor: float(score) if score is not None else math.nan,
        **tested,
        "params": sum(p.numel() for p in task.model.parameters()),
        "channels_last": bool(getattr(task, "channels_last", False)),  # the memory format trained in
        "compile": bool(task.hparams.get("compile", False)),  # task.compile as decided (auto: reslab.tasks.compile)
        "epochs": trainer.current_epoch,
        "stopped_by": why,
        "wall_time_s": round(wall, 3),
        "seed": cfg.seed,
        **cluster.place(),  # host, GPUs given, SLURM job id / node / log files (reslab.cluster)
    }
    for callback in trainer.callbacks:
        if hasattr(callback, "summary"):
            metrics.update(callback.summary())
    return metrics


def write_versions(run_dir: Path, cfg: DictConfig) -> None:
    """Package versions next to Hydra's config, so a result can be reproduced, the config's fingerprint, and Hydra's
    record of the job as it runs (`run_files.hydra_record`)."""
    packages = ("reslab", "torch", "torchvision", "lightning", "torchmetrics", "hydra-core", "omegaconf", "numpy")
    info = {"python": platform.python_version(), "platform": platform.platform(),
            **{name: version(name) for name in packages}, "config": digest(cfg), "hydra_record": hydra_record(run_dir)}
    write_json(run_dir / "versions.json", info)
