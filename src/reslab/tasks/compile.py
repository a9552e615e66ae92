"""`task.compile: auto`: torch.compile the network only where the run is long enough for the compile to pay.

A compile costs its time once per process (the training graph at the first step, the evaluation graph at the
first validation) and gains a little on every step after. The rule: compile when the run's training steps reach
the break-even count measured for the device type (`scripts/bench.py --compile-cost`: compile seconds / seconds
gained per step). On this project's CPU (2 cores, docs/speed.md) a compiled step gained at most a few per cent
(ResNet-20) or lost (ResNet-56) for half a minute of compile, so auto is off on the CPU; the CUDA count is
provisional until `make gpu-check` measures it.
"""
import math

import torch

# Training steps from which a compile pays, per device type (None: never, measured). See docs/speed.md.
BREAK_EVEN_STEPS = {"cpu": None, "cuda": 2_000}


def device_type(accelerator: str) -> str:
    """The device a Trainer with `accelerator` trains on: cuda where `auto`/`gpu` finds one, else the name."""
    if accelerator in ("auto", "gpu", "cuda"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return accelerator


def training_steps(epochs: int, samples: int, batch_size: int, max_steps: int = -1) -> int:
    steps = epochs * max(1, math.ceil(samples / batch_size))
    return min(steps, max_steps) if max_steps and max_steps > 0 else steps


def decide(setting, device: str, steps: int) -> tuple[bool, str]:
    """(compile, why) for `task.compile` = true, false or "auto" on a run of `steps` training steps on `device`."""
    if setting != "auto":
        return bool(setting), f"task.compile={str(bool(setting)).lower()} (as set)"
    need = BREAK_EVEN_STEPS.get(device)
    if need is None:
        return False, f"task.compile=auto: off on {device} (measured: a compile does not pay for itself there)"
    on = steps >= need
    return on, (f"task.compile=auto: {'on' if on else 'off'} ({steps:,} training steps, "
                f"{'at least' if on else 'fewer than'} the {need:,} a compile needs to pay on {device})")
