"""`task.channels_last: auto`: the memory format a conv net trains faster in, on the device at hand, by a probe.

channels_last (NHWC) was measured 1.0-1.4x faster than NCHW for reslab's nets on two CPUs and is the format of
tensor-core GPUs, but not faster everywhere: `auto` times a few training steps (forward + backward) of a copy of
the network in both formats, interleaved, on the run's device, batch size and thread count, and takes the faster.
The answer is cached per (device, torch, threads, network, input, batch) in ~/.cache/reslab (XDG_CACHE_HOME), so
the runs of a sweep and every later run on the machine train in the same format (a format changes the float
rounding, so a decision that flipped between runs would break "same seed, same metrics").
"""
import copy
import hashlib
import json
import platform
import statistics
from pathlib import Path

import torch
from torch import nn

from reslab.clock import now
from reslab.run_files import atomic_write, cache_dir, read_json

ROUNDS = 3  # timed steps per format (after one untimed), interleaved
MAX_PROBE_BATCH = 4096  # timing a larger batch tells the format apart no better, and costs memory


def cache_file() -> Path:
    return cache_dir() / "memory_format.json"


def probe_batch(batch_size: int, samples: int) -> int:
    """The batch a probe times: the run's batch, but never more than the training set holds (a batch_size of
    100000 on 1000 samples trains on batches of 1000), nor more than MAX_PROBE_BATCH."""
    return max(1, min(batch_size, samples, MAX_PROBE_BATCH))


def choose(model: nn.Module, input_shape, batch_size: int, device: torch.device,
           samples: int | None = None) -> tuple[bool, str]:
    """(channels_last, how it was decided) for training `model` on batches of `input_shape` on `device`;
    `samples`: the training set's size, which bounds the probe's batch (`probe_batch`)."""
    batch_size = probe_batch(batch_size, samples if samples is not None else batch_size)
    key = _key(model, input_shape, batch_size, device)
    cached = read_json(cache_file()) or {}
    if isinstance(cached.get(key), dict) and isinstance(cached[key].get("channels_last"), bool):
        return cached[key]["channels_last"], f"auto (cached: {cached[key]['ms']})"
    times = probe(model, input_shape, batch_size, device)
    faster = times[True] <= times[False]
    ms = f"channels_last {times[True] * 1e3:.1f} ms, contiguous {times[False] * 1e3:.1f} ms a step"
    try:
        cached = read_json(cache_file()) or {}  # again: a concurrent job may have added its own
        cached[key] = {"channels_last": faster, "ms": ms}
        atomic_write(cache_file(), lambda f: f.write(json.dumps(cached, indent=1).encode()))
    except OSError:  # a read-only home: the probe's answer still holds for this run
        pass
    return faster, f"auto (probe: {ms})"


def probe(model: nn.Module, input_shape, batch_size: int, device: torch.device) -> dict[bool, float]:
    """Median seconds of a forward + backward step in each format ({channels_last: seconds}), on copies of the
    model; the global random state is left as it was. `batch_size` is the batch the run trains on: the caller
    bounds it by the data's size (`probe_batch`)."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        x = torch.randn(batch_size, *input_shape, generator=torch.Generator().manual_seed(0)).to(device)
        nets = {cl: copy.deepcopy(model).to(device, memory_format=_format(cl)).train() for cl in (True, False)}
        inputs = {cl: x.contiguous(memory_format=_format(cl)) for cl in (True, False)}
        times = {True: [], False: []}
        for round_ in range(ROUNDS + 1):
            for cl in (True, False) if round_ % 2 == 0 else (False, True):
                start = now(device)
                nets[cl](inputs[cl]).float().logsumexp(1).mean().backward()
                if round_:  # the first step of each format warms up
                    times[cl].append(now(device) - start)
    return {cl: statistics.median(t) for cl, t in times.items()}


def _format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


def _key(model: nn.Module, input_shape, batch_size: int, device: torch.device) -> str:
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (_cpu_name() or platform.machine())
    network = hashlib.sha256(repr(model).encode()).hexdigest()[:16]
    return (f"{where} | torch {torch.__version__} | {torch.get_num_threads()} threads | net {network} | "
            f"input {list(input_shape)} | batch {batch_size}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
