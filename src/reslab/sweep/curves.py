"""Seed-averaged training curves per setting, and how long each job took to reach a target.

Both read the per-epoch `history` of metrics.json (finished jobs only): `epoch` (0-based), `train/loss`, the
monitored metric (`val/acc`) and, when the run logs it, `time_s` (seconds since the start of fitting at the end of
that epoch's validation). Epochs are reported 1-based: "epoch 3" is the state after three epochs of training.
"""
import math
import statistics
from dataclasses import dataclass

from reslab.sweep.jobs import Group, Job, Sweep
from reslab.sweep.stats import clip, log_interval, spread, t_interval

TIME = "time_s"
LOSS = "train/loss"
FRACTION = (0.0, 1.0)  # the range of the monitored metric and its test counterpart (accuracy, mAP)
LOSS_TARGET = 1.0  # "the training loss falls below one"
TARGET_SHARE = 0.99  # default validation target: 99 % of the baseline's best validation metric


@dataclass(frozen=True)
class Point:
    """One epoch of a setting's curve: mean over seeds with its 95 % t-interval (geometric for the loss; the
    metric's kept in [0, 1]) and the seeds' own range (min, max: the band the figures draw)."""

    epoch: int  # 1-based
    seconds: float  # mean over the seeds of `time_s` (NaN when not logged)
    mean: float
    low: float
    high: float
    n: int
    min: float = math.nan
    max: float = math.nan


def _rows(job: Job, key: str) -> dict[int, dict]:
    """{epoch (0-based): history row} of the rows with a finite `key`."""
    return {int(row["epoch"]): row for row in job.history
            if isinstance(row.get(key), (int, float)) and math.isfinite(row[key])}


def curve(group: Group, key: str) -> list[Point]:
    """The per-epoch curve of `key` over the group's finished seeds. The loss is averaged on a log scale (its
    geometric mean and the exp of the t-interval of log-losses: a band that stays positive on a log axis, and the
    same ratio scale as the comparisons); the metric arithmetically, its interval clipped to [0, 1]. n counts the
    seeds that reached the epoch."""
    rows: dict[int, list[dict]] = {}
    for job in group.jobs:
        for epoch, row in _rows(job, key).items():
            rows.setdefault(epoch, []).append(row)
    points = []
    for epoch in sorted(rows):
        values = [row[key] for row in rows[epoch]]
        mean, low, high = log_interval(values) if key == LOSS else clip(t_interval(values), *FRACTION)
        times = [row.get(TIME) for row in rows[epoch]]
        seconds = statistics.fmean(times) if all(isinstance(t, (int, float)) for t in times) else math.nan
        _, least, most = spread(values)
        points.append(Point(epoch + 1, seconds, mean, low, high, len(values), least, most))
    return points


def seed_curves(group: Group, key: str) -> list[list[tuple[int, float, float]]]:
    """Each finished seed's own curve of `key`: [(epoch 1-based, seconds or NaN, value)] per job."""
    out = []
    for job in group.jobs:
        rows = _rows(job, key)
        if rows:
            out.append([(epoch + 1, float(row[TIME]) if isinstance(row.get(TIME), (int, float)) else math.nan,
                         float(row[key])) for epoch, row in sorted(rows.items())])
    return out


def has_time(sweep: Sweep) -> bool:
    return any(TIME in row for job in sweep.jobs for row in job.history)


@dataclass(frozen=True)
class Reached:
    """When a job first reached a target: 1-based epoch and seconds (NaN without `time_s`); None = never."""

    epoch: int
    seconds: float


def first_reached(job: Job, key: str, threshold: float, above: bool) -> Reached | None:
    """The first epoch whose `key` is >= threshold (`above`) or < threshold; None when it never is."""
    for row in sorted(job.history, key=lambda r: r["epoch"]):
        value = row.get(key)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        if (value >= threshold) if above else (value < threshold):
            seconds = row.get(TIME)
            return Reached(int(row["epoch"]) + 1, float(seconds) if isinstance(seconds, (int, float)) else math.nan)
    return None


def metric_target(sweep: Sweep, group: Group, target: float | None) -> float | None:
    """The validation target of `group`: `target` when given, else 99 % of the mean over the baseline's finished
    seeds of their best validation metric, the baseline being `noshortcut` at the same other settings (depth...).
    None when there is neither."""
    if target is not None:
        return float(target)
    base = sweep.baseline_of(group)
    values = base.values(sweep.monitor) if base else []
    return TARGET_SHARE * statistics.fmean(values) if values else None


@dataclass(frozen=True)
class TimeToTarget:
    """A setting's time to one target: per finished job, then over the seeds that reached it."""

    threshold: float | None
    reached: list[Reached | None]  # one per finished job; None = never

    @property
    def count(self) -> str:
        return f"{sum(r is not None for r in self.reached)}/{len(self.reached)}"

    def epochs(self) -> tuple[float, float, float]:
        """Geometric mean and 95 % interval on the log scale (a count of epochs is positive and skewed), >= 1."""
        return clip(log_interval([r.epoch for r in self.reached if r is not None]), low=1.0)

    def seconds(self) -> tuple[float, float, float]:
        """Geometric mean and 95 % interval on the log scale: always > 0."""
        return log_interval([r.seconds for r in self.reached if r is not None])

    @property
    def never(self) -> int:
        return sum(r is None for r in self.reached)


def time_to_target(sweep: Sweep, group: Group, target: float | None = None,
                   loss_target: float = LOSS_TARGET) -> tuple[TimeToTarget, TimeToTarget]:
    """(validation metric >= its target, training loss < loss_target) for the group's finished jobs."""
    jobs = [job for job in group.jobs if job.finished]
    threshold = metric_target(sweep, group, target)
    metric = [first_reached(job, sweep.monitor, threshold, above=True) if threshold is not None else None
              for job in jobs]
    loss = [first_reached(job, LOSS, loss_target, above=False) for job in jobs]
    return TimeToTarget(threshold, metric), TimeToTarget(loss_target, loss)
