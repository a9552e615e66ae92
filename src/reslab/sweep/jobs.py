"""A sweep folder read back from disk: every job's overrides, config and metrics.json, grouped into settings.

Hydra's `on_multirun_end` receives no job results, and with the joblib or submitit launchers the jobs ran in other
processes, so everything is read from the folder (which also makes partial and merged sweeps work).
A *setting* (`Group`) is the jobs that differ only in their seed: the swept keys except `seed`.
"""
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from reslab.sweep.keys import clean_value, split_override, swept_domains
from reslab.tasks.catalog import DEFAULT_MONITOR, test_key

BASELINE = "noshortcut"
VARIANT_KEYS = ("model", "model.block", "model.order", "model.shortcut_op")  # the override naming the variant
SEED = "seed"
FINISHED = "ok"


@dataclass
class Job:
    """One job folder of a sweep: its command-line overrides, resolved config and metrics.json."""

    path: Path
    num: int
    overrides: dict[str, str]
    config: dict
    metrics: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.metrics.get("status", "missing")

    @property
    def finished(self) -> bool:
        return self.status == FINISHED

    def value(self, key: str) -> float:
        """A numeric result, NaN when absent, not numeric, or the job did not finish."""
        value = self.metrics.get(key)
        if not self.finished or isinstance(value, bool) or not isinstance(value, (int, float)):
            return math.nan
        return float(value)

    @property
    def seed(self) -> str:
        return str(self.overrides.get(SEED, self.config.get(SEED, self.metrics.get(SEED, ""))))

    @property
    def depth(self) -> int:
        try:
            return int(self.overrides.get("depth", self.config.get("depth", 0)))
        except (TypeError, ValueError):
            return 0

    @property
    def history(self) -> list[dict]:
        """Per-epoch rows of metrics.json (epoch 0-based, train/loss, the monitored metric, time_s when logged)."""
        rows = self.metrics.get("history") if self.finished else None
        return [row for row in rows if isinstance(row, dict) and _number(row.get("epoch"))] \
            if isinstance(rows, list) else []


@dataclass
class Group:
    """A setting: the jobs that differ only in their seed."""

    key: tuple[str, ...]  # values of the swept keys (seed excluded), in `Sweep.keys` order
    jobs: list[Job]

    def values(self, key: str) -> list[float]:
        return [v for v in (job.value(key) for job in self.jobs) if math.isfinite(v)]

    def by_seed(self, key: str) -> dict[str, float]:
        """{seed: value} of the finished jobs with a finite `key`."""
        return {job.seed: v for job in self.jobs if math.isfinite(v := job.value(key))}

    @property
    def finished(self) -> int:
        return sum(job.finished for job in self.jobs)

    @property
    def depth(self) -> int:
        return self.jobs[0].depth


@dataclass
class Sweep:
    folder: Path
    jobs: list[Job]
    keys: list[str]  # swept keys without seed, in the order they were given
    groups: list[Group]
    monitor: str  # e.g. val/acc; its test counterpart is `test_key`

    @property
    def test_key(self) -> str:
        return test_key(self.monitor)

    @property
    def variant_key(self) -> str | None:
        return next((k for k in VARIANT_KEYS if k in self.keys), None)

    def label(self, group: Group, without: tuple[str, ...] = ()) -> str:
        parts = [f"{k}={v}" for k, v in zip(self.keys, group.key) if k not in without]
        return ", ".join(parts) or "all jobs"

    def series(self, group: Group) -> str:
        """A group's line label in a per-depth figure: every swept key but depth."""
        return self.label(group, without=("depth",))

    def others(self, group: Group) -> tuple[str, ...]:
        """The group's values of every swept key except the variant: its comparison set."""
        return tuple(v for k, v in zip(self.keys, group.key) if k != self.variant_key)

    def variant(self, group: Group) -> str | None:
        return group.key[self.keys.index(self.variant_key)] if self.variant_key else None

    def baseline(self, group: Group) -> Group | None:
        """The `noshortcut` group with the same values of the other swept keys (None for the baseline itself)."""
        if self.variant_key is None or self.variant(group) == BASELINE:
            return None
        return self.baseline_of(group)

    def baseline_of(self, group: Group) -> Group | None:
        """The `noshortcut` group of `group`'s comparison set (the group itself when it is the baseline)."""
        if self.variant_key is None:
            return None
        return next((g for g in self.groups
                     if self.variant(g) == BASELINE and self.others(g) == self.others(group)), None)

    @property
    def depths(self) -> list[int]:
        return sorted({job.depth for job in self.jobs})

    def setting(self, key: str, default=None):
        """A `summary.*` config value of the sweep (first job that has it), e.g. setting("target")."""
        for job in self.jobs:
            node = job.config.get("summary")
            if isinstance(node, dict) and node.get(key) is not None:
                return node[key]
        return default


def never_started(folder: Path, jobs: list[Job]) -> list[str]:
    """Folder names of the jobs the sweep in `folder` was to run (its multirun.yaml: the swept keys' values) that
    have no folder: the sweep ended or was killed before them. [] when the grid is unknown (a search, intervals)."""
    path = Path(folder) / "multirun.yaml"
    if not path.is_file():
        return []
    try:
        hydra = OmegaConf.load(path).get("hydra", {})
        domains = swept_domains(hydra.get("overrides", {}).get("task", []), hydra.get("sweeper", {}).get("params"))
    except Exception:  # noqa: BLE001 - a damaged multirun.yaml: the grid is unknown
        return []
    if not domains or not all(isinstance(values, list) for values in domains.values()):
        return []
    present = {job.path.name for job in jobs}
    names = (",".join(f"{k}={clean_value(v)}" for k, v in zip(domains, combo))
             for combo in itertools.product(*domains.values()))
    return [name for name in names if name not in present]


def load_sweep(folder: Path) -> Sweep:
    """Every job under `folder` (any folder holding .hydra/overrides.yaml), grouped by the swept keys."""
    folder = Path(folder)
    jobs = []
    for overrides_file in folder.rglob(".hydra/overrides.yaml"):
        job_dir = overrides_file.parent.parent
        hydra_file = job_dir / ".hydra" / "hydra.yaml"
        metrics_file = job_dir / "metrics.json"
        metrics = _checked(_read_json(metrics_file)) if metrics_file.is_file() else {}
        try:
            num = OmegaConf.load(hydra_file).hydra.job.get("num", 0) if hydra_file.is_file() else 0
            config_file = job_dir / ".hydra" / "config.yaml"
            config = OmegaConf.to_container(OmegaConf.load(config_file)) if config_file.is_file() else {}
            overrides = dict(split_override(line) for line in OmegaConf.load(overrides_file))
        except Exception as error:  # noqa: BLE001 - a damaged record: listed as failed, never averaged
            num, config, overrides = 0, {}, {"folder": job_dir.name}
            metrics = {"status": "failed", "error": f"unreadable .hydra record: {type(error).__name__}"}
        if not isinstance(config, dict):
            config = {}
        jobs.append(Job(job_dir, num if isinstance(num, int) else 0, overrides, config, metrics))
    if not jobs:
        raise FileNotFoundError(f"no job folders (with .hydra/overrides.yaml) under {folder}")
    jobs.sort(key=lambda job: (job.num, str(job.path)))
    names = list(dict.fromkeys(key for job in jobs for key in job.overrides))
    keys = [k for k in names if k != SEED and len({job.overrides.get(k, "") for job in jobs}) > 1]
    groups: dict[tuple, Group] = {}
    for job in jobs:
        key = tuple(job.overrides.get(k, "") for k in keys)
        groups.setdefault(key, Group(key, [])).jobs.append(job)
    monitor = next((job.metrics["monitor"] for job in jobs if isinstance(job.metrics.get("monitor"), str)),
                   DEFAULT_MONITOR)
    sweep = Sweep(folder, jobs, keys, [], monitor)
    sweep.groups = sorted(groups.values(), key=lambda g: _sort_key(sweep, g))
    return sweep


def number_first(value: str) -> tuple:
    """Sort key: numbers as numbers (20 before 110), then text."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _sort_key(sweep: Sweep, group: Group) -> tuple:
    """Rows ordered by the other swept keys (numbers as numbers), variants in their sweep order."""
    first_job = min(job.num for job in group.jobs)
    return tuple(number_first(v) for v in sweep.others(group)) + (first_job,)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return {"status": "failed", "error": f"unreadable metrics.json: {error}"}
    return data if isinstance(data, dict) else {"status": "failed", "error": "metrics.json is not a JSON object"}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked(metrics: dict) -> dict:
    """A finished job's record whose monitor or monitored value is not a finite number is `malformed` (listed
    with the reason, never averaged: a NaN seed must not vanish from a mean)."""
    if metrics.get("status") != FINISHED:
        return metrics
    monitor = metrics.get("monitor", DEFAULT_MONITOR)
    if not isinstance(monitor, str):
        return {**metrics, "status": "malformed", "error": f"metrics.json: monitor={monitor!r} is not a key"}
    value = metrics.get(monitor)
    if not _number(value) or not math.isfinite(value):
        return {**metrics, "status": "malformed", "error": f"metrics.json: {monitor}={value!r} is not a finite number"}
    return metrics
