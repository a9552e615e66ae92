"""The keys a sweep sweeps, and job folders named by them only: `model=csp,depth=56,seed=0`, never a path or a
fixed override.

Only the launching process sees the whole sweep (`model=plain,csp` on the command line, `hydra.sweeper.params` of a
preset). `Summary.on_multirun_start` finds the swept keys there and records them in the sweep folder (`swept.json`),
where every job reads them, whatever launcher runs it (basic: same process; joblib, submitit, SLURM: other
processes or machines sharing the folder). Each job's
`hydra.sweep.subdir: ${swept_dirname:${hydra.overrides.task},${hydra.job.num},${hydra.sweep.dir}}` then keeps, of
its own overrides, those keys. The same keys decide the TensorBoard HParams columns (`reslab.hparams`).

A leaf module (stdlib and Hydra's override parser), imported by `reslab.config` (registers the resolver),
`reslab.run` (the job's swept keys for `reslab.hparams`), `reslab.sweep.jobs` and `reslab.sweep.callback` (records
them).
"""
import hashlib
import json
import os
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser

SWEPT_FILE = "swept.json"  # in the sweep folder: {key: [values] | {"interval": [low, high]} | null}, in sweep order
MAX_NAME = 180  # bytes a folder name may take (file systems allow 255)


def split_override(text: str) -> tuple[str, str]:
    """(key, value) of one command-line override: `+model.width=16` -> ("model.width", "16"), `~callbacks.x` ->
    ("callbacks.x", "")."""
    key, _, value = str(text).partition("=")
    return key.lstrip("+~"), value


def override_key(text: str) -> str:
    """The key an override sets, adds (+) or removes (~)."""
    return split_override(text)[0]


def swept_domains(task_overrides, sweeper_params=None) -> dict:
    """{key: domain} of the overrides that sweep (a comma list, range(), choice(), interval()): the sweeper's params
    (a preset's `hydra.sweeper.params`) then the command line, as Hydra's basic sweeper orders a job's overrides (the
    command line wins for a key in both), the seed last. The domain is the list of values as strings,
    {"interval": [low, high]} for an interval, or None."""
    lines = [f"{key}={value}" for key, value in dict(sweeper_params or {}).items()]
    lines += [str(line) for line in task_overrides or ()]
    domains: dict = {}
    for override in OverridesParser.create().parse_overrides(lines):
        if not override.is_sweep_override():
            continue
        key = override_key(override.get_key_element())
        try:
            domain = list(override.sweep_string_iterator())
        except Exception:  # noqa: BLE001 - an interval (optuna): no list of values
            value = override.value()
            domain = {"interval": [value.start, value.end]} if hasattr(value, "start") else None
        domains[key] = domain
    if "seed" in domains:
        domains["seed"] = domains.pop("seed")
    return domains


def recorded(sweep_dir) -> dict:
    """{key: domain} recorded in sweep folder `sweep_dir` at its start; {} outside a sweep (or an unreadable record:
    the job folders are then numbered)."""
    if sweep_dir is None:
        return {}
    try:
        value = json.loads((Path(str(sweep_dir)) / SWEPT_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def job_values(overrides, keys) -> dict[str, str]:
    """The job's values of `keys`, from its override strings (`model=plain`, `+foo=1`), in the order of `keys`."""
    own = dict(split_override(line) for line in overrides or () if "=" in str(line))
    return {key: own[key] for key in keys if key in own}


def clean_value(value: str) -> str:
    """A value fit for one folder name: no path separators, no leading dot."""
    value = value.replace(os.sep, "_").replace("/", "_").replace("\\", "_").strip()
    return value.lstrip(".") or "_"


def job_dirname(overrides, num=0, sweep_dir=None) -> str:
    """The OmegaConf resolver `swept_dirname`: `key=value` of the keys swept by the sweep in `sweep_dir` joined by
    commas (the job number when nothing is swept), shortened with a hash past MAX_NAME bytes."""
    values = job_values(overrides, recorded(sweep_dir))
    if not values:
        return str(num)
    name = ",".join(f"{key}={clean_value(value)}" for key, value in values.items())
    if len(name.encode()) > MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = name.encode()[:MAX_NAME - 11].decode(errors="ignore") + "-" + digest
    return name

