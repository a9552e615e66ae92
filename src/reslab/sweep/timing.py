"""Seconds per epoch, for the curves against wall-clock time and the seconds to a target.

A history row carries `time_s` (seconds of fitting at the end of that epoch's validation) when the run's History
callback records it. Otherwise the seconds come from the run's TensorBoard events, which Lightning stamps with the
wall time: the last monitored-metric event (`val/acc`) of each epoch, counted from the run's HParams session start
(written just before fitting; start-up and imports excluded) or else from the first event. Runs without either
get epochs only.
"""
import logging
import math
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from reslab.sweep.curves import TIME
from reslab.sweep.jobs import Job, Sweep


def tensorboard_times(folder: Path, monitor: str) -> dict[int, float]:
    """{epoch (0-based): seconds from the start of fitting to that epoch's last `monitor` event}; {} without events."""
    if not folder.is_dir() or not any(folder.glob("events.out.tfevents.*")):
        return {}
    logging.getLogger("tensorboard").setLevel(logging.WARNING)  # its per-file notes would flood Hydra's log
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    tags = events.Tags()["scalars"]
    if monitor not in tags or "epoch" not in tags:
        return {}
    start = events.FirstEventTimestamp()
    try:
        content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.start_time_secs or start
    except KeyError:  # no HParams session (another logger wrote the events, or an older run)
        pass
    epoch_at = {e.step: int(e.value) for e in events.Scalars("epoch")}
    times: dict[int, float] = {}
    for event in events.Scalars(monitor):
        if event.step in epoch_at:
            times[epoch_at[event.step]] = max(times.get(epoch_at[event.step], 0.0), event.wall_time - start)
    return times


def fill_times(sweep: Sweep) -> None:
    """Give every finished job's history rows a `time_s` when they lack one and TensorBoard has it (in memory)."""
    for job in sweep.jobs:
        rows = job.history
        if not rows or all(TIME in row for row in rows):
            continue
        times = _times(job, sweep.monitor)
        for row in rows:
            seconds = times.get(int(row["epoch"]))
            if TIME not in row and seconds is not None and math.isfinite(seconds):
                row[TIME] = round(seconds, 3)


def _times(job: Job, monitor: str) -> dict[int, float]:
    try:
        return tensorboard_times(job.path / "tensorboard", monitor)
    except Exception:  # noqa: BLE001 - a damaged event file costs the time axis, not the summary
        return {}
