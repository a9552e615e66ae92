"""The summary's tables as data (`Section`: title, text, header, rows) and the CSV files.

Cells are text; `**x**` marks a best value (bold in summary.md and report.html).
"""
import csv
import io
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from reslab.run_files import write_text
from reslab.sweep.curves import LOSS, curve, time_to_target
from reslab.sweep.frontier import frontier, optimal_on
from reslab.sweep.jobs import FINISHED, SEED, Group, Sweep, never_started

# Optional figures written by the diagnostics callbacks: (metrics.json key, column title).
COST_COLUMNS = (("params", "params"), ("flops", "FLOPs"), ("throughput", "samples/s"),
                ("peak_mem_mb", "peak MB"), ("grad/spread", "grad spread"),
                ("grad/first_last", "grad first/last"), ("curvature/lambda_max", "λmax"),
                ("curvature/convexity_ratio", "|λmin/λmax|"), ("wall_time_s", "time s"))


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)  # paragraphs before the table
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def number(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-2):
        return f"{value:.3g}"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return number(values[0])
    return f"{number(statistics.fmean(values))} ± {statistics.stdev(values):.2g}"


def mean_ci(interval: tuple[float, float, float], digits: str = ".3g") -> str:
    """"4.3 [2.1, 6.5]"; the mean alone when the interval cannot be computed (one value)."""
    mean, low, high = interval
    if not math.isfinite(mean):
        return "–"
    if not math.isfinite(low):
        return f"{mean:{digits}}"
    return f"{mean:{digits}} [{low:{digits}}, {high:{digits}}]"


def compact(value: float) -> str:
    """Three significant digits with a k/M/G suffix: 272,474 params -> 272k."""
    if not math.isfinite(value):
        return "–"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3g}"


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


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


def results(sweep: Sweep) -> Section:
    """One row per setting: mean ± std over seeds; bold = best at the same other settings; Pareto column."""
    test, monitor = sweep.test_key, sweep.monitor
    best_test, best_loss = _best(sweep, test, higher=True), _best(sweep, LOSS, higher=False)
    costs = [(k, title) for k, title in COST_COLUMNS if any(g.values(k) for g in sweep.groups)]
    marks = optimal_on(sweep, front) if (front := frontier(sweep)) else {}
    header = [*sweep.keys, "runs ok", f"{test}", f"{monitor} (best)", "train/loss (final)",
              *(title for _, title in costs), *(["Pareto-optimal on"] if front else [])]
    rows = []
    for i, group in enumerate(sweep.groups):
        test_cell, loss_cell = mean_std(group.values(test)), mean_std(group.values(LOSS))
        rows.append([
            *group.key, _status_cell(group),
            f"**{test_cell}**" if i in best_test else test_cell,
            mean_std(group.values(monitor)),
            f"**{loss_cell}**" if i in best_loss else loss_cell,
            *(compact(_mean(group.values(k))) for k, _ in costs),
            *([", ".join(marks.get(id(group), [])) or "–"] if front else [])])
    statuses: dict[str, int] = {}
    for job in sweep.jobs:
        statuses[job.status] = statuses.get(job.status, 0) + 1
    counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    text = (f"{len(sweep.jobs)} jobs ({counts}); swept: {', '.join(sweep.keys) or 'nothing but the seed'}. "
            f"Mean ± std over seeds of finished jobs; **bold** = best at the same other settings "
            f"(highest {test}, lowest final training loss).")
    if front:
        text += (f" Pareto-optimal: no other setting has a higher mean {test} at a lower or equal cost "
                 "(fewer params/FLOPs, more samples/s).")
    return Section("", [text], header, rows)


def time_to_target_section(sweep: Sweep, target: float | None, loss_target: float, timed: bool) -> Section | None:
    """Per setting: how many seeds reached the targets, and after how many epochs (seconds) on average."""
    rows = []
    for group in sweep.groups:
        if not group.finished:
            continue
        metric, loss = time_to_target(sweep, group, target, loss_target)
        def seconds(reached):
            return [mean_ci(reached.seconds())] if timed else []

        if metric.threshold is None:
            cells = ["no baseline", "–", "–", *(["–"] if timed else [])]
        else:
            cells = [f"{metric.threshold:.4g}", metric.count, mean_ci(metric.epochs()), *seconds(metric)]
        rows.append([sweep.label(group), *cells, loss.count, mean_ci(loss.epochs()), *seconds(loss)])
    if not rows:
        return None
    metric = sweep.monitor
    header = ["setting", f"{metric} target", "reached", "epochs", *(["seconds"] if timed else []),
              f"loss < {loss_target:g}: reached", "epochs", *(["seconds"] if timed else [])]
    rule = ("the target given (`summary.target`)" if target is not None else
            f"99 % of the mean best {metric} of `noshortcut` at the same other settings")
    text = [f"First epoch (1-based) at which {metric} reaches its target — {rule} — and at which the training loss "
            f"falls below {loss_target:g}: geometric mean [95 % CI, on the log scale: epochs >= 1, seconds > 0] over "
            "the seeds that reached it; \"reached\" counts the seeds that did (the others never did in the epochs "
            "run: not dropped, not averaged)."
            + ("" if timed else " No per-epoch times (history `time_s` or TensorBoard events): epochs only.")]
    return Section("Time to target", text, header, rows)


def unfinished(sweep: Sweep) -> Section | None:
    rows = [[job.path.relative_to(sweep.folder).as_posix(), job.status,
             job.metrics.get("error", "no metrics.json (still running, or killed)")]
            for job in sweep.jobs if job.status != FINISHED]
    rows += [[name, "never started", f"the sweep ended first: run the command again with hydra.sweep.dir={sweep.folder}"]
             for name in never_started(sweep.folder, sweep.jobs)]
    return Section("Jobs that did not finish", [], ["job", "status", "error"], rows) if rows else None


def write_csv(sweep: Sweep, path: Path, target: float | None, loss_target: float) -> None:
    """summary.csv: one row per job: folder, overrides, swept keys, status, results, costs, time to target, error.
    Written atomically (the old file stays whole until the new one is complete)."""
    result_keys = [LOSS, sweep.monitor, sweep.test_key, *(k for k, _ in COST_COLUMNS), "epochs"]
    result_keys += sorted({k for job in sweep.jobs for k in job.metrics if k.startswith(("slurm/", "cuda_vis"))})
    reach = ["target", "epochs_to_target", "seconds_to_target", "epochs_to_loss", "seconds_to_loss"]
    columns = ["job", "overrides", *sweep.keys, SEED, "status", *result_keys, *reach, "error"]
    reached = {}
    for group in sweep.groups:
        metric, loss = time_to_target(sweep, group, target, loss_target)
        finished = [job for job in group.jobs if job.finished]
        for job, hit, below in zip(finished, metric.reached, loss.reached):
            no_target = metric.threshold is None
            reached[id(job)] = {"target": "" if no_target else metric.threshold,
                                "epochs_to_target": hit.epoch if hit else "" if no_target else "never",
                                "seconds_to_target": _cell(hit.seconds) if hit else "",
                                "epochs_to_loss": below.epoch if below else "never",
                                "seconds_to_loss": _cell(below.seconds) if below else ""}
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, columns)
    writer.writeheader()
    for job in sweep.jobs:
        row = {"job": job.path.relative_to(sweep.folder).as_posix(),
               "overrides": " ".join(f"{k}={v}" for k, v in job.overrides.items()),
               **{k: job.overrides.get(k, "") for k in (*sweep.keys, SEED)},
               "status": job.status, "error": job.metrics.get("error", ""), **reached.get(id(job), {})}
        row.update({k: job.metrics.get(k, "") for k in result_keys})
        writer.writerow(row)
    write_text(path, handle.getvalue())


def write_curves_csv(sweep: Sweep, path: Path) -> None:
    """curves.csv: setting, metric, epoch (1-based), seconds, mean, low, high (the 95 % t-interval), n (seeds),
    min, max (the seeds' range: the figures' band) of each setting's curves. Written atomically."""
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(["setting", "metric", "epoch", "seconds", "mean", "low", "high", "n", "min", "max"])
    for group in sweep.groups:
        for key in (LOSS, sweep.monitor):
            for p in curve(group, key):
                writer.writerow([sweep.label(group), key, p.epoch, _cell(p.seconds), _cell(p.mean),
                                 _cell(p.low), _cell(p.high), p.n, _cell(p.min), _cell(p.max)])
    write_text(path, handle.getvalue())


def _cell(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.6g}"
