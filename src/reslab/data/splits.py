"""Train/val/test splits: carved from one set with a fixed split seed, independent of the training seed."""
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset, TensorDataset

from reslab.data.catalog import split_sizes


@dataclass
class Splits:
    """What a data set's loader returns. `mean_std` (per channel, [0, 1] units) is given only where it can't be
    computed from in-memory training images (image folders)."""

    train: Dataset
    val: Dataset
    test: Dataset
    class_names: list[str]
    mean_std: tuple[Sequence[float], Sequence[float]] | None = None

    def to(self, device: torch.device) -> "Splits":
        """The same splits with their tensors on `device` (tensor data sets only)."""
        move = lambda ds: TensorDataset(*(t.to(device) for t in ds.tensors))  # noqa: E731
        return replace(self, train=move(self.train), val=move(self.val), test=move(self.test))


def carve(dataset: Dataset, fractions: Sequence[float], seed: int) -> list[Dataset]:
    """[rest, part_1, ...]: disjoint random parts of `dataset`, part_i holding round(fractions[i] * len) items (an
    empty split is refused before training where the catalogue knows the size, here otherwise)."""
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return [_take(dataset, idx) for idx in order.split(split_sizes(len(dataset), fractions))]


def _take(dataset: Dataset, idx: Tensor) -> Dataset:
    if isinstance(dataset, TensorDataset):
        return TensorDataset(*(t[idx] for t in dataset.tensors))
    return Subset(dataset, idx.tolist())
