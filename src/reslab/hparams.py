"""TensorBoard's HParams tab for runs and sweeps, and plain hyperparameters for the other loggers.

TensorBoard builds the tab from an *experiment* (the columns: hyperparameters with their domains and whether they
differ between runs, and the metrics) plus each run's *session start* (its values and its group) and final
scalars. Lightning's `log_hyperparams(params, metrics)` writes an experiment into every run with each key marked
"not differing" (TensorBoard reads the first it finds, so the swept keys never came first) and needs a placeholder
metric value at step 0. Here instead:

- `write_experiment(sweep folder, config, swept)`: once per multirun, at its start (`reslab.sweep.callback`): the
  swept keys with their domains and differs=true (TensorBoard lists those first), then the main settings, then the
  `hp/*` metrics. A single run has no experiment: TensorBoard derives one from the runs it is shown.
- `log_start(loggers, cfg, monitor)`: at the start of a new run (not a resume): the run's values of those few
  columns, the seed among them, in the group of its setting (swept values but the seed) so seeds are averaged;
  other loggers (CSV, MLflow) get the whole config flattened.
- `log_final(loggers, metrics, monitor, step)`: the final `hp/*` metrics at the last step (no placeholder at step
  0, so no ramp from zero) and the end of the session.

No Lightning import (loggers are recognised by class name) and no `reslab.sweep` import: the sweep's callback
imports this module.
"""
import math
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from reslab.sweep.keys import recorded
from reslab.tasks.catalog import DEFAULT_MONITOR, test_key

# Columns besides the swept keys (which come first): what a reader of the tab asks about a run.
MAIN = ("model.block", "depth", "width", "dataset.name", "epochs", "batch_size", "lr", "weight_decay", "seed")


def metric_keys(monitor: str) -> tuple[str, ...]:
    """The final metrics shown as HParams columns (as hp/<key>)."""
    return (monitor, test_key(monitor), "train/loss", "params", "flops", "throughput",
            "peak_mem_mb", "wall_time_s")


def _numeric(values) -> bool:
    try:
        [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return all(str(v).lower() not in ("true", "false", "nan", "inf", "-inf") for v in values)


def _plain(value):
    """A config value as an HParams value: numbers, bools and text; null shown as "null" (not Python's "None")."""
    if value is None:
        return "null"
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value)


def columns(cfg, swept: dict, choices: dict | None = None) -> dict:
    """{column: value}: the swept keys in sweep order, then MAIN (minus keys inside a swept config group).
    A swept config group (`model=csp`) shows its choice; a swept key whose values are not all numbers is text."""
    out = {}
    for key, domain in swept.items():
        value = OmegaConf.select(cfg, key, default=None)
        if isinstance(value, DictConfig) or (value is None and key in (choices or {})):
            value = (choices or {}).get(key, "")
        value = _plain(value)
        textual = isinstance(domain, list) and not _numeric(domain)
        out[key] = str(value) if textual and not isinstance(value, str) else value
    groups = [key for key in out if isinstance(OmegaConf.select(cfg, key, default=None), DictConfig)]
    for key in MAIN:
        if key not in out and not any(key.startswith(group + ".") for group in groups):
            out[key] = _plain(OmegaConf.select(cfg, key, default=None))
    return out


def _summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])


def _info(name: str, values: list, differs: bool, interval: list | None = None) -> api_pb2.HParamInfo:
    info = api_pb2.HParamInfo(name=name, differs=differs)
    if interval is not None:
        info.type = api_pb2.DATA_TYPE_FLOAT64
        info.domain_interval.min_value, info.domain_interval.max_value = (float(x) for x in interval)
    elif all(isinstance(v, bool) for v in values):
        info.type = api_pb2.DATA_TYPE_BOOL
        info.domain_discrete.extend(values)
    elif _numeric(values):
        info.type = api_pb2.DATA_TYPE_FLOAT64
        info.domain_discrete.extend(sorted({float(v) for v in values}))
    else:
        info.type = api_pb2.DATA_TYPE_STRING
        info.domain_discrete.extend([str(v) for v in values])
    return info


def experiment(cfg, swept: dict, monitor: str) -> Summary:
    """The experiment summary of a sweep: swept keys (domain = their values, differs) first, then MAIN."""
    infos = []
    for key, domain in swept.items():
        interval = domain.get("interval") if isinstance(domain, dict) else None
        infos.append(_info(key, domain if isinstance(domain, list) else [], True, interval))
    for key, value in columns(cfg, swept).items():
        if key not in swept:
            infos.append(_info(key, [value], False))
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=f"hp/{key}"), display_name=key)
               for key in metric_keys(monitor)]
    data = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics, time_created_secs=time.time())
    return _summary(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=data))


def write_experiment(folder, cfg, swept: dict, monitor: str = DEFAULT_MONITOR) -> Path:
    """The sweep's experiment as an event file at the top of the sweep folder (TensorBoard's log dir); replaces one
    written by an earlier start in the same folder."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("events.out.tfevents.*.hparams"):
        old.unlink()
    writer = EventFileWriter(str(folder), filename_suffix=".hparams")
    writer.add_event(Event(wall_time=time.time(), summary=experiment(cfg, swept, monitor)))
    writer.close()
    return next(folder.glob("events.out.tfevents.*.hparams"))


def _tensorboard(logger) -> bool:
    return any(cls.__name__ == "TensorBoardLogger" for cls in type(logger).__mro__)


def _writer(logger):
    """The event-file writer of a TensorBoard logger on rank 0; None for other loggers and other ranks."""
    if not _tensorboard(logger):
        return None
    get = getattr(type(logger.experiment), "_get_file_writer", None)  # Lightning's DummyExperiment on ranks > 0
    return get(logger.experiment) if get else None


def _hydra_choices() -> dict:
    """The config group choices (model: csp, ...) of the running Hydra job; {} outside one."""
    from hydra.core.hydra_config import HydraConfig

    return dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}


def _swept() -> dict:
    """The keys swept by the running Hydra job's sweep (recorded in its folder, `reslab.sweep.keys`); {} else."""
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    return recorded(HydraConfig.get().sweep.dir) if multirun else {}


def flat(cfg) -> dict:
    """The config as flat `a/b: value` pairs (null as "null") for loggers without an HParams tab."""
    out = {}

    def walk(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}/")
            else:
                out[prefix + str(key)] = _plain(value) if not isinstance(value, list) else str(value)

    walk(OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg, "")
    return out


def setting(values: dict, swept: dict) -> str:
    """The HParams group of a run: its swept values but the seed (`model=csp,depth=56`), so that TensorBoard
    groups (and averages) the seeds of one setting; "" (a group of its own) outside a sweep."""
    if not swept:
        return ""
    return ",".join(f"{key}={values[key]}" for key in swept if key != "seed" and key in values) or "all jobs"


def log_start(loggers, cfg, monitor: str, swept: dict | None = None) -> None:
    """At the start of a new run: TensorBoard gets the session start (the few columns, the setting as its group);
    other loggers `log_hyperparams(flat config)`. `monitor` is accepted for symmetry with `log_final`. `swept`:
    the sweep's {key: domain}; by default those recorded for the running Hydra job's sweep."""
    choices = _hydra_choices()
    swept = _swept() if swept is None else swept
    for logger in loggers or ():
        if not _tensorboard(logger):
            logger.log_hyperparams(flat(cfg))
            continue
        writer = _writer(logger)
        if writer is None:  # a rank > 0
            continue
        values = columns(cfg, swept, choices)
        start = plugin_data_pb2.SessionStartInfo(group_name=setting(values, swept), start_time_secs=time.time())
        for key, value in values.items():
            if isinstance(value, bool):
                start.hparams[key].bool_value = value
            elif isinstance(value, (int, float)):
                start.hparams[key].number_value = value
            else:
                start.hparams[key].string_value = str(value)
        writer.add_summary(_summary(metadata.SESSION_START_INFO_TAG,
                                    plugin_data_pb2.HParamsPluginData(session_start_info=start)))
        writer.flush()


def log_final(loggers, metrics: dict, monitor: str, step: int) -> None:
    """At the end of a run (rank 0), with its final metrics (metrics.json's): the finite ones as hp/<key> at `step`
    for every logger, and TensorBoard's session end (success unless `status` says otherwise)."""
    values = {f"hp/{key}": float(metrics[key]) for key in metric_keys(monitor)
              if isinstance(metrics.get(key), (int, float)) and not isinstance(metrics.get(key), bool)
              and math.isfinite(metrics[key])}
    status = api_pb2.STATUS_SUCCESS if metrics.get("status", "ok") == "ok" else api_pb2.STATUS_FAILURE
    for logger in loggers or ():
        if values:
            logger.log_metrics(values, step=step)
        writer = _writer(logger)
        if writer is not None:
            end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
            writer.add_summary(_summary(metadata.SESSION_END_INFO_TAG,
                                        plugin_data_pb2.HParamsPluginData(session_end_info=end)))
            writer.flush()
