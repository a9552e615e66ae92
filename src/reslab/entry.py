"""The command line: `cli(main)` runs the Hydra app with one-line errors, `job(cfg)` is the Hydra task function.

Light on purpose: only the config layer is imported here. A bad config (or override) fails in one line, exit
code 2, before torch and Lightning load; `reslab.run` is imported once the config is known to be good.
A run stopped by SIGTERM or SIGINT (`reslab.errors.Interrupted`) exits 128 + the signal's number, after one line
saying how to continue; a sweep so stopped is summarised first.
"""
import contextlib
import logging
import math
import os
import sys
import warnings
from pathlib import Path

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf import OmegaConf

from reslab import host
from reslab.config import validate
from reslab.config.overrides import check_added
from reslab.config.resume import digest, plain_overrides, resumed_config
from reslab.errors import Interrupted, RefusedFile, UserError, install_signal_handlers
from reslab.run_files import FolderInUse, read_json, restore_hydra_record, run_lock, write_metrics
from reslab.sweep.callback import summarize_ended_early
from reslab.tasks.catalog import test_key as test_split_key

log = logging.getLogger("reslab")
# Errors of the output folder (unwritable, full, read-only) that a user fixes, reported in one line.
DISK_ERRNOS = {13, 1, 28, 122, 30, 20}  # EACCES, EPERM, ENOSPC, EDQUOT, EROFS, ENOTDIR
FULL_ERROR = "HYDRA_FULL_ERROR"


class Reported(BaseException):
    """A single run's error, recorded in its folder, on its way to `cli` (a BaseException: Hydra would log an
    Exception with its traceback first)."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def cli(main, conf: Path) -> None:
    """Run the @hydra.main function `main` (config folder `conf`). Bad input, whether Hydra finds it (unknown keys,
    groups or options) or the job does (a `UserError`), is printed as one line with exit code 2; other errors of
    the job keep their traceback. The user's HYDRA_FULL_ERROR=1 shows every traceback."""
    user_full = os.environ.get(FULL_ERROR) == "1"
    os.environ[FULL_ERROR] = "1"  # Hydra's only switch that lets its errors reach this function, not its printer
    install_signal_handlers()
    try:
        main()
        host.freeze_heap()  # the interpreter's exit then skips collecting what the run built (a second or more)
    except Interrupted as stop:
        summarize_ended_early(f"interrupted: {stop}")
        print(f"[reslab] {stop}", file=sys.stderr)
        sys.exit(stop.exit_code)
    except (Exception, Reported) as caught:  # noqa: BLE001 - one line for bad input, the traceback for the rest
        error = caught.error if isinstance(caught, Reported) else caught
        if user_full or isinstance(caught, Reported) and not isinstance(error, UserError):
            raise error from error.__cause__  # the job's own errors: their traceback
        text = str(error) if isinstance(error, UserError) else f"{one_line(error)}{group_hint(error, conf)}"
        print(f"error: {text}", file=sys.stderr)
        summarize_ended_early(f"interrupted: {one_line(error)}")
        sys.exit(2)


def one_line(error: BaseException) -> str:
    """A Hydra/OmegaConf message on one line, without its search path and object details."""
    parts = [str(error), str(error.__cause__ or "")]
    lines = []
    for text in parts:
        for line in text.split("Config search path")[0].splitlines():
            line = line.strip()
            if line and not line.startswith(("full_key:", "object_type=", "reference_type=")) and line not in lines:
                lines.append(line)
    text = " ".join(lines) or type(error).__name__
    if "Available options in" in text:  # Hydra lists the options one per line: a comma list reads better
        head, _, options = text.rpartition(": ")
        text = f"{head}: {', '.join(options.split())}"
    return text


def group_hint(error: BaseException, conf: Path) -> str:
    """For `group.key=value` overrides of a key the group's option lacks (optim.name=adam): the group's options."""
    text = str(error)
    if "Could not override '" not in text:
        return ""
    group = text.split("Could not override '", 1)[1].split("'", 1)[0].split(".", 1)[0]
    folder = conf / group
    if not folder.is_dir():
        return ""
    chosen = OmegaConf.load(conf / "train.yaml").get("defaults", [])
    default = next((d[group] for d in chosen if hasattr(d, "get") and d.get(group)), None)
    options = sorted(p.stem for p in folder.glob("*.yaml"))
    options = [o for o in [default] if o in options] + [o for o in options if o != default]
    return f" ({group} is chosen with {group}=<option>: choose one of {', '.join(options)})"


def job(cfg) -> float:
    """The Hydra task: one run in Hydra's run folder. Returns the monitored metric for sweepers.

    In a multirun a failing job is recorded (`metrics.json` status `failed`) and the sweep goes on; in a single
    run the error is recorded and re-raised (`cli` prints bad input as one line). A signal ends the sweep.
    """
    started = host.reading()  # other processes' CPU use is read over this job's start-up (host.busy_since)
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        cfg, changes = checked_config(cfg, hydra_cfg)
        done = finished(run_dir, cfg, multirun)
        if done is not None:  # a resumed or re-run finished run: its record stays as it is
            print(f"[reslab] already finished ({done['status']}, {done.get('epochs')} epochs): {run_dir}")
            return done.get(done.get("monitor", ""), math.nan)
        if multirun and cfg.resume is None and any((run_dir / "checkpoints").glob("*.ckpt")):
            cfg.resume = str(run_dir)  # a sweep re-run in its folder: this job was killed, it continues
        quiet_libraries()
        log.info("config:\n%s", OmegaConf.to_yaml(cfg, resolve=True))  # train.log: the whole resolved config
        if not multirun:
            print(f"[reslab] config (resolved; in full in train.log):\n{config_text(cfg)}", flush=True)
        from reslab.ddp import ddp_in_this_job, primary_rank
        from reslab.run import run  # the heavy imports, once the config is known to be good

        host.freeze_heap(first_only=True)  # the imported libraries: out of every garbage collection from now on

        with run_lock(run_dir) if primary_rank() else contextlib.nullcontext(), ddp_in_this_job(hydra_cfg):
            metrics = run(cfg, run_dir, threads=cpu_threads(cfg, hydra_cfg, multirun, started), changes=changes)
    except Exception as error:  # noqa: BLE001 - recorded, then re-raised unless a sweep must go on
        return failed(error, run_dir, multirun)
    key = metrics["monitor"]
    test_key = test_split_key(key)
    print(f"[reslab] {metrics['status']}: {test_key}={metrics.get(test_key, math.nan):.4f} {key}={metrics[key]:.4f}"
          f" train/loss={metrics['train/loss']:.4g} ({metrics['wall_time_s']:.1f} s) -> {run_dir}")
    return metrics[key]


def cpu_threads(cfg, hydra_cfg, multirun: bool, started: tuple) -> int:
    """This process's torch threads (`cpu.threads`), chosen once as the job starts: the cores it may use shared with
    the jobs of a parallel sweep and the CPU ranks of DDP, less those other processes kept busy since `started`
    (`host.reading()` at the job's start; not sampled for DDP ranks, which start at once and share by count); one
    line says what was chosen and why, and a warning comes when the settings ask for more threads than there are
    cores."""
    jobs = hydra_cfg.launcher.get("n_jobs", 1) if multirun else 1
    devices = cfg.trainer.devices if cfg.trainer.accelerator == "cpu" and isinstance(cfg.trainer.devices, int) else 1
    jobs = max(1, jobs if isinstance(jobs, int) and jobs > 0 else host.cores()) * devices
    threads, why = host.choose_threads(cfg.cpu.threads, jobs, sample=devices == 1,
                                       busy=lambda cpus: host.busy_since(started, cpus))
    log.info(why)
    print(f"[reslab] {why}", flush=True)
    workers = cfg.dataset.get("num_workers", 0)  # auto: none on the CPU
    warning = host.oversubscribed(threads, jobs, workers if isinstance(workers, int) else 0)
    if warning:
        log.warning(warning)
    return threads


def finished(run_dir: Path, cfg, multirun: bool) -> dict | None:
    """The metrics of a run that already ended in `run_dir` (resumed, or its sweep re-run): status ok with all its
    epochs (or stopped early on purpose), or diverged. None when there is something left to train. A sweep job
    whose folder holds a run of another configuration is refused: its record must not be mixed up, and the .hydra
    files Hydra has already rewritten for this job are put back as the run left them (versions.json)."""
    if cfg.resume is None and not multirun:
        return None
    metrics = read_json(run_dir / "metrics.json")
    versions = read_json(run_dir / "versions.json") or {}
    if multirun and cfg.resume is None and versions.get("config") not in (None, digest(cfg)):
        restore_hydra_record(run_dir, versions.get("hydra_record"))
        raise RefusedFile(f"job folder {run_dir} holds a run of another configuration: "
                          f"re-run a sweep with its own settings, or give a new hydra.sweep.dir")
    if metrics is None or metrics.get("status") not in ("ok", "diverged"):
        return None
    complete = metrics.get("epochs", 0) >= cfg.epochs or metrics.get("stopped_by") == "early_stopping"
    return metrics if metrics["status"] == "diverged" or complete else None


def config_text(cfg) -> str:
    """The resolved config as YAML, short: trainer arguments left at Lightning's default (null) omitted, each
    callback and logger shown by its class."""
    values = OmegaConf.to_container(cfg, resolve=True)
    values["trainer"] = {k: v for k, v in values["trainer"].items() if v is not None and k != "_target_"}
    for group in ("callbacks", "logger"):
        values[group] = {name: spec["_target_"].rsplit(".", 1)[-1] for name, spec in (values[group] or {}).items()
                         if spec}
    return OmegaConf.to_yaml(values).rstrip()


def checked_config(cfg, hydra_cfg):
    """(the config the run uses, validated; the overrides a resume applies). A resumed run's config is its saved
    one with this command's overrides of the keys a resume may change; `reslab.run` writes it back once the
    checkpoint has been checked too."""
    overrides = list(hydra_cfg.overrides.task)
    check_added(overrides, hydra_cfg.runtime.choices,
                lambda kept: compose(config_name=hydra_cfg.job.config_name, overrides=kept))
    changes = ()
    if cfg.resume is not None:
        changes = tuple(plain_overrides(overrides))
        cfg = resumed_config(cfg.resume, overrides)
    validate(cfg)
    return cfg, changes


def failed(error: Exception, run_dir: Path, multirun: bool) -> float:
    built = isinstance(error, InstantiationException) and error.__cause__ is not None  # a _target_ refused its arguments
    cause = error.__cause__ if built else error
    line = f"{type(cause).__name__}: {cause}".splitlines()[0]
    user_error = isinstance(error, UserError) or built or (isinstance(error, OSError) and error.errno in DISK_ERRNOS)
    try:
        if not (run_dir / "metrics.json").exists() and not isinstance(error, FolderInUse):  # never clobber a record
            write_metrics(run_dir, {"status": "failed", "error": line})
    except OSError:
        pass  # the folder itself is unwritable: the message below says so
    if multirun:
        print(f"[reslab] job failed: {line}", file=sys.stderr)
        return math.nan
    if user_error and not isinstance(error, UserError):
        error = UserError(line).with_traceback(error.__traceback__)
        error.__cause__ = cause
    raise Reported(error)


# Library lines that say nothing about this run (tips, deprecations of code reslab does not call, hardware
# inventories): filtered from the console and train.log.
NOISE = ("💡 Tip", "Loading `train_dataloader` to estimate", "GPU available:", "TPU available:", "HPU available:",
         "LOCAL_RANK:", "You are using a CUDA device", "litlogger", "litmodels")


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in NOISE)


def quiet_libraries() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*The epoch parameter in `scheduler.step\\(\\)`.*")
    warnings.filterwarnings("ignore", message=".*is smaller than the logging interval.*")
    for name in ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_Quiet())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if not any(getattr(h, "reslab_console", False) for h in log.handlers):  # reslab's warnings on the console too
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("[reslab] %(levelname)s: %(message)s"))
        console.reslab_console = True
        log.addHandler(console)
