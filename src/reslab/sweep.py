"""The multirun summary: every job's metrics.json (and TensorBoard curves) -> summary.csv, summary.md and plots.

Hydra calls `Summary.on_multirun_end` after the last job. It receives no job results, and with the joblib or
submitit launchers the jobs ran in other processes, so everything is read back from the sweep folder on disk;
`python scripts/summarize.py <sweep folder>` does the same after the fact.

Jobs are grouped by the swept keys except `seed` (one table row per group, mean ± std over its seeds). Each
variant (the swept `model`) is compared with `noshortcut` at the same values of the other keys.
"""
import csv
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from reslab.stats import compare

BASELINE = "noshortcut"
VARIANT_KEYS = ("model", "model.block")  # the override that names the variant, when swept
SEED = "seed"
# Optional figures written by the diagnostics callbacks: (metrics.json key, column title).
COST_COLUMNS = (("params", "params"), ("flops", "FLOPs"), ("throughput", "samples/s"),
                ("peak_mem_mb", "peak MB"), ("grad/spread", "grad spread"),
                ("grad/first_last", "grad first/last"), ("curvature/lambda_max", "λmax"),
                ("curvature/convexity_ratio", "|λmin/λmax|"), ("wall_time_s", "time s"))
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

    def value(self, key: str) -> float:
        """A numeric result, NaN when absent, not numeric, or the job did not finish."""
        value = self.metrics.get(key)
        if self.status != FINISHED or isinstance(value, bool) or not isinstance(value, (int, float)):
            return math.nan
        return float(value)


@dataclass
class Group:
    """The jobs that differ only in their seed."""

    key: tuple[str, ...]  # values of the swept keys (seed excluded), in `Sweep.keys` order
    jobs: list[Job]

    def values(self, key: str) -> list[float]:
        return [v for v in (job.value(key) for job in self.jobs) if math.isfinite(v)]

    @property
    def finished(self) -> int:
        return sum(job.status == FINISHED for job in self.jobs)


@dataclass
class Sweep:
    folder: Path
    jobs: list[Job]
    keys: list[str]  # swept keys without seed, in the order they were given
    groups: list[Group]
    monitor: str  # e.g. val/acc; its test counterpart is `test_key`

    @property
    def test_key(self) -> str:
        return self.monitor.replace("val/", "test/")

    @property
    def variant_key(self) -> str | None:
        return next((k for k in VARIANT_KEYS if k in self.keys), None)

    def label(self, group: Group, without: tuple[str, ...] = ()) -> str:
        parts = [f"{k}={v}" for k, v in zip(self.keys, group.key) if k not in without]
        return ", ".join(parts) or "all jobs"

    def others(self, group: Group) -> tuple[str, ...]:
        """The group's values of every swept key except the variant: its comparison set."""
        return tuple(v for k, v in zip(self.keys, group.key) if k != self.variant_key)

    def variant(self, group: Group) -> str | None:
        return group.key[self.keys.index(self.variant_key)] if self.variant_key else None

    def baseline(self, group: Group) -> Group | None:
        """The `noshortcut` group with the same values of the other swept keys."""
        if self.variant_key is None or self.variant(group) == BASELINE:
            return None
        return next((g for g in self.groups
                     if self.variant(g) == BASELINE and self.others(g) == self.others(group)), None)


def _override_key(line: str) -> tuple[str, str]:
    key, _, value = line.partition("=")
    return key.lstrip("+~"), value


def load_sweep(folder: Path) -> Sweep:
    """Every job under `folder` (any folder holding .hydra/overrides.yaml), grouped by the swept keys."""
    folder = Path(folder)
    jobs = []
    for overrides_file in folder.rglob(".hydra/overrides.yaml"):
        job_dir = overrides_file.parent.parent
        hydra_file = job_dir / ".hydra" / "hydra.yaml"
        num = OmegaConf.load(hydra_file).hydra.job.get("num", 0) if hydra_file.is_file() else 0
        config_file = job_dir / ".hydra" / "config.yaml"
        config = OmegaConf.to_container(OmegaConf.load(config_file)) if config_file.is_file() else {}
        metrics_file = job_dir / "metrics.json"
        metrics = _read_json(metrics_file) if metrics_file.is_file() else {}
        overrides = dict(_override_key(line) for line in OmegaConf.load(overrides_file))
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
    monitor = next((job.metrics["monitor"] for job in jobs if "monitor" in job.metrics), "val/acc")
    sweep = Sweep(folder, jobs, keys, [], monitor)
    sweep.groups = sorted(groups.values(), key=lambda g: _sort_key(sweep, g))
    return sweep


def _sort_key(sweep: Sweep, group: Group) -> tuple:
    """Rows ordered by the other swept keys (numbers as numbers), variants in their sweep order."""
    def number_first(value: str):
        try:
            return (0, float(value), "")
        except ValueError:
            return (1, 0.0, value)

    first_job = min(job.num for job in group.jobs)
    return tuple(number_first(v) for v in sweep.others(group)) + (first_job,)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        return {"status": "failed", "error": f"unreadable metrics.json: {error}"}


# ---------------------------------------------------------------- summary.csv


def write_csv(sweep: Sweep, path: Path) -> None:
    """One row per job: folder, overrides, swept keys, status, results, cost figures, error line."""
    result_keys = ["train/loss", sweep.monitor, sweep.test_key]
    result_keys += [k for k, _ in COST_COLUMNS] + ["epochs"]
    columns = ["job", "overrides", *sweep.keys, SEED, "status", *result_keys, "error"]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for job in sweep.jobs:
            row = {"job": job.path.relative_to(sweep.folder).as_posix(),
                   "overrides": " ".join(f"{k}={v}" for k, v in job.overrides.items()),
                   **{k: job.overrides.get(k, "") for k in (*sweep.keys, SEED)},
                   "status": job.status, "error": job.metrics.get("error", "")}
            row.update({k: job.metrics.get(k, "") for k in result_keys})
            writer.writerow(row)


# ---------------------------------------------------------------- summary.md


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-2):
        return f"{value:.3g}"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"


def _mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return _number(values[0])
    return f"{_number(statistics.fmean(values))} ± {statistics.stdev(values):.2g}"


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def _compact(value: float) -> str:
    """Three significant digits with a k/M/G suffix: 272,474 params -> 272k."""
    if not math.isfinite(value):
        return "–"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3g}"


def _best(sweep: Sweep, key: str, higher: bool) -> set[int]:
    """Indices of the groups with the best mean `key` within each comparison set (same other keys)."""
    best: dict[tuple, tuple[float, int]] = {}
    counts: dict[tuple, int] = {}
    for i, group in enumerate(sweep.groups):
        values = group.values(key)
        others = sweep.others(group)
        counts[others] = counts.get(others, 0) + 1
        if not values:
            continue
        score = statistics.fmean(values) * (1 if higher else -1)
        if others not in best or score > best[others][0]:
            best[others] = (score, i)
    return {i for others, (_, i) in best.items() if counts[others] > 1}


def _status_cell(group: Group) -> str:
    cell = f"{group.finished}/{len(group.jobs)}"
    others = sorted({job.status for job in group.jobs} - {FINISHED})
    if others:
        cell += " (" + ", ".join(f"{sum(j.status == s for j in group.jobs)} {s}" for s in others) + ")"
    return cell


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def results_table(sweep: Sweep) -> list[str]:
    test, monitor = sweep.test_key, sweep.monitor
    best_test, best_loss = _best(sweep, test, higher=True), _best(sweep, "train/loss", higher=False)
    costs = [(k, title) for k, title in COST_COLUMNS if any(g.values(k) for g in sweep.groups)]
    header = [*sweep.keys, "runs ok", f"{test}", f"{monitor} (best)", "train/loss (final)",
              *(title for _, title in costs)]
    rows = []
    for i, group in enumerate(sweep.groups):
        test_cell, loss_cell = _mean_std(group.values(test)), _mean_std(group.values("train/loss"))
        rows.append([
            *group.key, _status_cell(group),
            f"**{test_cell}**" if i in best_test else test_cell,
            _mean_std(group.values(monitor)),
            f"**{loss_cell}**" if i in best_loss else loss_cell,
            *(_compact(_mean(group.values(k))) for k, _ in costs)])
    return _table(header, rows)


def _difference_cells(values: list[float], base: list[float], higher: bool) -> list[str]:
    diff = compare(values, base, higher_is_better=higher)
    interval = "–" if math.isnan(diff.low) else f"[{diff.low:+.3g}, {diff.high:+.3g}]"
    return ["–" if math.isnan(diff.mean) else f"{diff.mean:+.3g}", interval, diff.verdict]


def significance_table(sweep: Sweep) -> list[str]:
    """Each variant against `noshortcut` at the same other keys: mean difference, 95 % interval, verdict."""
    rows = []
    for group in sweep.groups:
        base = sweep.baseline(group)
        if base is None:
            continue
        rows.append([sweep.label(group),
                     *_difference_cells(group.values(sweep.test_key), base.values(sweep.test_key), True),
                     *_difference_cells(group.values("train/loss"), base.values("train/loss"), False)])
    if not rows:
        return []
    test = sweep.test_key
    header = ["variant", f"Δ {test}", "95 % CI", "verdict", "Δ train/loss", "95 % CI", "verdict"]
    return _table(header, rows)


def unfinished(sweep: Sweep) -> list[str]:
    rows = [[job.path.relative_to(sweep.folder).as_posix(), job.status,
             job.metrics.get("error", "no metrics.json (still running, or killed)")]
            for job in sweep.jobs if job.status != FINISHED]
    return _table(["job", "status", "error"], rows) if rows else []


def markdown(sweep: Sweep, figures: list[str]) -> str:
    statuses = {}
    for job in sweep.jobs:
        statuses[job.status] = statuses.get(job.status, 0) + 1
    counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    lines = [f"# Sweep summary: {sweep.folder.name}", "",
             f"{len(sweep.jobs)} jobs ({counts}); swept: {', '.join(sweep.keys) or 'nothing but the seed'}. "
             f"Mean ± std over seeds of finished jobs; **bold** = best at the same other settings "
             f"(highest {sweep.test_key}, lowest final training loss).", "", *results_table(sweep)]
    significance = significance_table(sweep)
    if significance:
        lines += ["", f"## Against `{BASELINE}`", "",
                  f"Mean difference to `{BASELINE}` at the same other settings, with its 95 % confidence interval "
                  "(Welch's t over seeds). For test accuracy higher is better, for training loss lower is better; "
                  "\"better\"/\"worse\" means the whole interval lies on one side of zero, \"no clear "
                  "difference\" that it straddles zero (more seeds narrow it).", "", *significance]
    failed = unfinished(sweep)
    if failed:
        lines += ["", "## Jobs that did not finish", "", *failed]
    if figures:
        lines += ["", "## Figures", "", *(f"![{name}]({name})" for name in figures)]
    return "\n".join(lines) + "\n"


def summarize(folder: Path) -> Path:
    """Write summary.csv, summary.md and the PNG figures into the sweep folder; returns summary.md's path."""
    from reslab.plots import write_figures

    sweep = load_sweep(Path(folder))
    write_csv(sweep, sweep.folder / "summary.csv")
    figures = write_figures(sweep)
    path = sweep.folder / "summary.md"
    path.write_text(markdown(sweep, figures))
    return path


class Summary(Callback):
    """`hydra.callbacks.summary`: summarise the sweep folder when the last job has ended."""

    def on_multirun_end(self, config, **kwargs) -> None:
        folder = Path(config.hydra.sweep.dir)
        try:
            path = summarize(folder)
        except Exception as error:  # noqa: BLE001 - the jobs' results are safe on disk; say how to retry
            print(f"[reslab] no summary ({type(error).__name__}: {error}); "
                  f"retry with: python scripts/summarize.py {folder}")
            return
        print(path.read_text().split("\n## Figures")[0])
        print(f"[reslab] summary: {path}")
