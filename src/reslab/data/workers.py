"""`dataset.num_workers: auto`: DataLoader worker processes from the cores this job has and what decoding costs.

On the CPU the job's torch threads already take its cores (`cpu.threads`): a worker decoding beside them makes
their OpenMP threads spin against it (seen: steps 30-60x slower), so auto is 0 and images are decoded between
steps. On a GPU the cores are free for decoding: auto times the decoding of a few samples and starts workers (the
job's threads less one, at most 8) unless a batch decodes faster than it would cross a process boundary.
"""
import logging
import time

import torch

log = logging.getLogger("reslab")
HOP_S = 0.005  # roughly what a batch costs to come back from a worker process (pickling, shared memory, wake-up)
MAX_WORKERS = 8
PROBE = 8  # samples decoded to time a batch


def workers_for(setting, dataset, batch_size: int, device: torch.device) -> int:
    """The DataLoader's num_workers for `setting` (an integer as given, or "auto")."""
    if setting != "auto":
        return int(setting)
    if device.type != "cuda":
        return 0
    n = min(PROBE, len(dataset))
    with torch.random.fork_rng(devices=[]):  # random transforms: the seeded stream stays where it was
        start = time.perf_counter()
        for i in range(n):
            dataset[i]
        batch_s = (time.perf_counter() - start) / max(1, n) * batch_size
    workers = 0 if batch_s < HOP_S else max(1, min(MAX_WORKERS, torch.get_num_threads() - 1))
    log.info("dataset.num_workers=auto: %d (a batch decodes in %.1f ms)", workers, batch_s * 1e3)
    return workers
