"""The training order of each epoch, and the in-memory fast path: batches sliced from tensors on the device."""
import hashlib
import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.data import DistributedSampler


def mix_seed(*parts: int) -> int:
    """One 63-bit seed from several integers; unlike seed + epoch, distinct tuples don't collide."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little") >> 1


def epoch_order(n: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1) -> Tensor:
    """The indices rank `rank` visits in epoch `epoch`: a permutation that depends only on (seed, epoch),
    padded by wrapping to a multiple of world_size and dealt round-robin (DistributedSampler's layout),
    so every rank gets an equal, disjoint-up-to-padding shard."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(mix_seed(seed, epoch)))
    total = math.ceil(n / world_size) * world_size
    return perm.repeat(math.ceil(total / n))[:total][rank::world_size]


class EpochSampler(DistributedSampler):
    """The training sampler of the DataLoader path, in `epoch_order`. A DistributedSampler, so Lightning neither
    replaces it under DDP nor forgets to call `set_epoch` on it each epoch."""

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1):
        super().__init__(range(n), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False)

    def order(self) -> Tensor:
        return epoch_order(len(self.dataset), self.seed, self.epoch, self.rank, self.num_replicas)

    def __iter__(self):
        return iter(self.order().tolist())


class TensorBatches:
    """Batches (x[idx], y[idx]) sliced where the tensors live: no DataLoader, no workers, no per-sample Python.

    With a `shuffle` sampler (training) each pass visits its order for the epoch `epoch()` returns at the start
    of the pass; without one, the stored order. (Not named `sampler`: Lightning would take it for a DataLoader.)
    """

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, shuffle: EpochSampler | None = None,
                 drop_last: bool = False, epoch: Callable[[], int] = lambda: 0):
        self.x, self.y, self.batch_size, self.drop_last = x, y, batch_size, drop_last
        self.shuffle, self.epoch = shuffle, epoch

    def __len__(self) -> int:
        n = len(self.shuffle) if self.shuffle is not None else len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        order = None
        if self.shuffle is not None:
            self.shuffle.set_epoch(self.epoch())
            order = self.shuffle.order().to(self.x.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            part = slice(start, start + self.batch_size)
            if order is None:
                yield self.x[part], self.y[part]
            else:
                idx = order[part]
                yield self.x[idx], self.y[idx]
