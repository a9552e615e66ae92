"""Learning-rate schedules stepped every optimizer step, from torch's own pieces, sized from the run's step count.

conf/scheduler/*.yaml name them as `_partial_` targets; the task calls the partial with the optimizer and the
sizes the schedule needs (`total_steps`, `steps_per_epoch`), passing only those its signature asks for, so any
torch scheduler taking them (OneCycleLR) or none of them works the same way.
"""
import logging

from torch.optim import Optimizer
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, LinearLR, LRScheduler, MultiStepLR, SequentialLR

log = logging.getLogger("reslab")
MAX_WARMUP_SHARE = 0.25  # a warm-up longer than this share of the run is clipped to it


def warmup_cosine(optimizer: Optimizer, total_steps: int, steps_per_epoch: float, warmup_epochs: float = 3,
                  warmup_start_factor: float = 0.1, min_factor: float = 0.0) -> LRScheduler:
    """Linear warm-up from lr * warmup_start_factor to lr over `warmup_epochs`, then cosine decay to
    lr * min_factor at the last step: SequentialLR(LinearLR, CosineAnnealingLR). A warm-up longer than a quarter
    of the run is clipped to a quarter, with a warning (else a short run would never reach its learning rate)."""
    warmup = round(warmup_epochs * steps_per_epoch)
    if warmup > MAX_WARMUP_SHARE * total_steps:
        clipped = int(MAX_WARMUP_SHARE * total_steps)
        log.warning("scheduler.warmup_epochs=%s is more than a quarter of this %d-step run: warm-up clipped to %d "
                    "steps (%.2g epochs)", warmup_epochs, total_steps, clipped, clipped / steps_per_epoch)
        warmup = clipped
    floor = min_factor * optimizer.param_groups[0]["lr"]
    cosine = CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup), eta_min=floor)
    if warmup == 0:
        return cosine
    ramp = LinearLR(optimizer, start_factor=warmup_start_factor, end_factor=1.0, total_iters=warmup)
    return SequentialLR(optimizer, [ramp, cosine], milestones=[warmup])


def warmup_multistep(optimizer: Optimizer, milestones: list[int], gamma: float = 0.1, warmup_steps: int = 0,
                     warmup_factor: float = 0.1) -> LRScheduler:
    """lr * warmup_factor for `warmup_steps` steps, then lr multiplied by `gamma` at each milestone (optimizer
    steps counted from the start of the run): SequentialLR(ConstantLR, MultiStepLR)."""
    steps = sorted(milestones)
    if warmup_steps == 0:
        return MultiStepLR(optimizer, steps, gamma)
    warm = ConstantLR(optimizer, factor=warmup_factor, total_iters=warmup_steps)
    decay = MultiStepLR(optimizer, [max(1, m - warmup_steps) for m in steps], gamma)
    return SequentialLR(optimizer, [warm, decay], milestones=[warmup_steps])
