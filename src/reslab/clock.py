"""`now(device)`: a wall-clock reading that counts the work queued on `device` (CUDA runs kernels asynchronously:
without the synchronisation a timer measures the launches, not the work). Shared by the cost callback's
throughput and the memory-format chooser's trial steps."""
import time

import torch


def now(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
