"""TensorBoard's HParams tab for runs and sweeps, and plain hyperparameters for the other loggers.

TensorBoard builds the tab from an *experiment* (the columns with their domains, and the metrics), each run's
*session start* (its values and its group) and final scalars, made here with TensorBoard's own HParams API
(`tensorboard.plugins.hparams.summary_v2`, its TensorFlow-free half). Lightning's `log_hyperparams` cannot give this
tab (no key marked as differing, no group: seeds never averaged); the other loggers (CSV, MLflow) get it, with the
whole config flattened. Done here, where the API has no argument for it:

- the swept keys are marked `differs` (TensorBoard lists the differing columns first);
- a run's group is its setting (its swept values but the seed), so TensorBoard averages the seeds of a setting in
  one row, whose `seeds` column says which seeds and how many ("0, 1 (2 seeds)"); each seed stays a session of
  its own (the row's expander lists them; the Scalars tab shows each run);
- integers as text ("128"; TensorBoard prints every number with five digits: 128.00), floats as numbers.

`write_experiment(sweep folder, config, swept)` once per multirun, at its start (`reslab.sweep.callback`),
atomically; `log_start(boards, others, cfg)` at the start of a new run (not a resume); `log_final(boards, others,
metrics, monitor, step)` the final `hp/*` metrics at the last step and the end of the session. `boards` are the
TensorBoard loggers, `others` the rest (the caller, reslab.run, tells them apart by type): no Lightning import here,
so the sweep's launching process writes the experiment without it; of the sweep room only its swept keys
(`reslab.sweep.keys`, a leaf).
"""
import math
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.plugins.hparams import summary_v2 as hp
from tensorboard.summary.writer.record_writer import RecordWriter

from reslab.run_files import atomic_write
from reslab.sweep.keys import recorded
from reslab.tasks.catalog import DEFAULT_MONITOR, test_key

# Columns besides the swept keys (which come first): what a reader of the tab asks about a run.
MAIN = ("model.block", "depth", "width", "dataset.name", "epochs", "batch_size", "lr", "weight_decay", "seed")
SEED, SEEDS = "seed", "seeds"
EXPERIMENT_FILE = "events.out.tfevents.0.sweep.hparams"  # the sweep's experiment, at the top of its folder


def metric_keys(monitor: str) -> tuple[str, ...]:
    """The final metrics shown as HParams columns (as hp/<key>)."""
    return (monitor, test_key(monitor), "train/loss", "params", "flops", "throughput", "peak_mem_mb", "wall_time_s")


def _parse(text: str):
    """A swept value as written on the command line -> bool, int, float or text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if math.isfinite(value) else text
    return text


def _kind(values) -> type:
    """The one type the HParams column of these values takes: bool, int (shown as text), float, or str."""
    kinds = {type(v) for v in values}
    if len(kinds) == 1:
        return kinds.pop()
    return float if kinds <= {int, float} else str


def _shown(value, kind: type | None = None):
    """A value as the tab shows it: integers and null as text, floats as numbers, bools as bools."""
    if isinstance(value, (DictConfig, ListConfig)):
        value = str(OmegaConf.to_container(value))
    if value is None:
        return "null"
    kind = kind or type(value)
    if kind is bool and isinstance(value, bool):
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return str(value)


def _seeds(domain) -> str:
    values = [str(v) for v in domain] if isinstance(domain, list) else []
    return f"{', '.join(values)} ({len(values)} seed{'s' * (len(values) != 1)})" if values else "searched"


def columns(cfg, swept: dict, choices: dict | None = None) -> dict:
    """{column: value}: the swept keys in sweep order, then MAIN (minus keys inside a swept config group). A swept
    config group (`model=csp`) shows its choice; a swept seed is the `seeds` column (the same in every run of a
    setting); a swept key's values take the one type of its domain."""
    out = {}
    for key, domain in swept.items():
        if key == SEED:
            out[SEEDS] = _seeds(domain)
            continue
        value = OmegaConf.select(cfg, key, default=None)
        if isinstance(value, DictConfig) or (value is None and key in (choices or {})):
            value = (choices or {}).get(key, "")
        kind = _kind([_parse(str(v)) for v in domain]) if isinstance(domain, list) and domain else None
        out[key] = _shown(value, float if isinstance(domain, dict) else kind)
    groups = [key for key in out if isinstance(OmegaConf.select(cfg, key, default=None), DictConfig)]
    for key in MAIN:
        if key not in out and not (key == SEED and SEEDS in out) and not any(
                key.startswith(group + ".") for group in groups):
            out[key] = _shown(OmegaConf.select(cfg, key, default=None))
    return out


def _domain(domain) -> hp.Discrete | hp.RealInterval | None:
    if isinstance(domain, dict) and "interval" in domain:
        return hp.RealInterval(*(float(x) for x in domain["interval"]))
    if not isinstance(domain, list) or not domain:
        return None
    values = [_parse(str(v)) for v in domain]
    kind = _kind(values)
    return hp.Discrete([_shown(v, kind) for v in values])


def experiment(cfg, swept: dict, monitor: str):
    """The experiment summary of a sweep: swept keys (domain = their values, differs) first, then MAIN."""
    params = [hp.HParam(SEEDS if key == SEED else key, hp.Discrete([_seeds(domain)]) if key == SEED else
                        _domain(domain)) for key, domain in swept.items()]
    params += [hp.HParam(key, hp.Discrete([value])) for key, value in columns(cfg, swept).items()
               if key not in swept and key != SEEDS]
    metrics = [hp.Metric(f"hp/{key}", display_name=key) for key in metric_keys(monitor)]
    summary = hp.hparams_config_pb(params, metrics, time_created_secs=time.time())
    return _mark_differing(summary, {SEEDS if key == SEED else key for key in swept})


def _mark_differing(summary, names: set):
    """Set `differs` on the named columns (hparams_config_pb has no argument for it)."""
    content = summary.value[0].metadata.plugin_data
    data = plugin_data_pb2.HParamsPluginData.FromString(content.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in names
    content.content = data.SerializeToString()
    return summary


def write_experiment(folder, cfg, swept: dict, monitor: str = DEFAULT_MONITOR) -> Path:
    """The sweep's experiment as an event file at the top of the sweep folder (TensorBoard's log dir), written
    atomically; it replaces the one of an earlier start in the same folder."""
    folder = Path(folder)
    path = folder / EXPERIMENT_FILE
    now = time.time()
    records = (Event(wall_time=now, file_version="brain.Event:2"),
               Event(wall_time=now, summary=experiment(cfg, swept, monitor)))

    def write(file) -> None:
        writer = RecordWriter(file)
        for record in records:
            writer.write(record.SerializeToString())

    atomic_write(path, write)
    for old in folder.glob("events.out.tfevents.*.hparams"):  # written by an older reslab, under another name
        if old != path:
            old.unlink()
    return path


def _writer(logger):
    """The event-file writer of a TensorBoard logger on rank 0; None on other ranks."""
    get = getattr(type(logger.experiment), "_get_file_writer", None)  # Lightning's DummyExperiment on ranks > 0
    return get(logger.experiment) if get else None


def _hydra_choices() -> dict:
    """The config group choices (model: csp, ...) of the running Hydra job; {} outside one."""
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
            elif value is None or isinstance(value, list):
                out[prefix + str(key)] = "null" if value is None else str(value)
            else:
                out[prefix + str(key)] = value

    walk(OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg, "")
    return out


def setting(values: dict, swept: dict) -> str:
    """The HParams group of a run: its swept values but the seed (`model=csp,depth=56`), so that TensorBoard
    groups (and averages) the seeds of one setting; "" (a group of its own) outside a sweep."""
    if not swept:
        return ""
    return ",".join(f"{key}={values[key]}" for key in swept if key != SEED and key in values) or "all jobs"


def log_start(boards, others, cfg, swept: dict | None = None) -> None:
    """At the start of a new run: the TensorBoard loggers (`boards`) get the session start (the few columns, the
    setting as its group); the `others` `log_hyperparams(flat config)`. `swept`: the sweep's {key: domain}; by
    default those recorded for the running Hydra job's sweep."""
    choices = _hydra_choices()
    swept = _swept() if swept is None else swept
    for logger in others:
        logger.log_hyperparams(flat(cfg))
    for logger in boards:
        writer = _writer(logger)
        if writer is None:  # a rank > 0
            continue
        values = columns(cfg, swept, choices)
        writer.add_summary(hp.hparams_pb(values, trial_id=setting(values, swept), start_time_secs=time.time()))
        writer.flush()


def _summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    """A summary of HParams plugin data: the session end, for which summary_v2 has no function."""
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])


def log_final(boards, others, metrics: dict, monitor: str, step: int) -> None:
    """At the end of a run (rank 0), with its final metrics (metrics.json's): the finite ones as hp/<key> at `step`
    for every logger, and the TensorBoard loggers' (`boards`) session end (success unless `status` says otherwise)."""
    values = {f"hp/{key}": float(metrics[key]) for key in metric_keys(monitor)
              if isinstance(metrics.get(key), (int, float)) and not isinstance(metrics.get(key), bool)
              and math.isfinite(metrics[key])}
    status = api_pb2.STATUS_SUCCESS if metrics.get("status", "ok") == "ok" else api_pb2.STATUS_FAILURE
    for logger in [*boards, *others]:
        if values:
            logger.log_metrics(values, step=step)
    for logger in boards:
        writer = _writer(logger)
        if writer is not None:
            end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
            writer.add_summary(_summary(metadata.SESSION_END_INFO_TAG,
                                        plugin_data_pb2.HParamsPluginData(session_end_info=end)))
            writer.flush()
