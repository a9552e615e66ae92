"""`ReslabData`: one LightningDataModule for every data set of the `dataset` config group.

Tensor data sets live once on the training device and are batched there (`TensorBatches`); image folders (and
any set with `in_memory=false`) go through a DataLoader. Images travel as uint8 and are augmented and normalised
on the device, after the transfer. Training order and augmentation of epoch e depend only on (seed, e).
"""
from dataclasses import dataclass, replace

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from reslab.catalog import resolve
from reslab.data.augment import channel_stats, crop_flip, normalize, standardize
from reslab.data.batches import EpochSampler, TensorBatches, mix_seed
from reslab.data.catalog import DATASETS, DataSet
from reslab.data.workers import workers_for

PADDING = 4  # the standard CIFAR augmentation: 4-pixel zero padding, random crop back to size, horizontal flip

# Options the DataModule acts on itself (and the catalogue's `module`); every other option goes to the set's loader.
BATCHING = ("augment", "in_memory", "num_workers", "module")


def load_splits(spec: DataSet, options: dict):
    """The `Splits` of a data set from its catalogue entry's loader (`options`: its config; `BATCHING` left out)."""
    return resolve(spec.loader)(**spec.args, **{k: v for k, v in options.items() if k not in BATCHING})


@dataclass(frozen=True)
class DataInfo:
    """What the model builder needs to know about the data."""

    input_shape: tuple[int, ...]  # (C, H, W) for images, (features,) for vectors
    num_classes: int
    kind: str  # "image" | "vector"
    class_names: list[str]


class SplitsData(L.LightningDataModule):
    """What the DataModules share: the data set's catalogue entry, its loader's options, and the train/val/test
    loaders over its splits (each subclass batches them with `_batches`). Call `setup()` before reading `info`."""

    def __init__(self, name: str, batch_size: int, seed: int, **options):
        super().__init__()
        self.name, self.batch_size, self.seed = name, batch_size, seed
        self.num_workers = options.get("num_workers", 0)
        self.spec = DATASETS.get(name, options.get("module"))  # its loader is imported on use (coco: pycocotools)
        self.loader_options = {k: v for k, v in options.items() if k not in BATCHING}
        self.splits = None
        self.info: DataInfo | None = None

    def train_dataloader(self):
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        sampler = EpochSampler(len(self.splits.train), self.seed, rank, world)
        # Equal batches (steady shapes for torch.compile, no batch of one for BatchNorm), unless the set is tiny.
        return self._batches(self.splits.train, sampler, drop_last=len(sampler) >= self.batch_size)

    def val_dataloader(self):
        return self._batches(self.splits.val)

    def test_dataloader(self):
        return self._batches(self.splits.test)

    def _device(self) -> torch.device:
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def _batches(self, dataset, sampler: EpochSampler | None = None, drop_last: bool = False):
        raise NotImplementedError


class ReslabData(SplitsData):
    """`ReslabData(name=..., batch_size=..., seed=..., **options)`, the options being the keys of
    conf/dataset/<name>.yaml: the classification sets. Call `setup()` (idempotent) before reading `info`."""

    def __init__(self, name: str, batch_size: int, seed: int, **options):
        super().__init__(name, batch_size, seed, **options)
        self.augment = options.get("augment", False)
        self.in_memory = options.get("in_memory", False)
        self._prepared = False
        self._generator_key = None

    def prepare_data(self) -> None:
        """Download the files of a file-based set when `download=true` (Lightning runs this on one process)."""
        if self.loader_options.get("download") and self.spec.fetch and not self._prepared:
            resolve(self.spec.fetch)(self.name, self.loader_options["root"])
        self._prepared = True

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:
            self.prepare_data()
            self.splits = _standardized(load_splits(self.spec, self.loader_options))
            x = self.splits.train[0][0]
            kind = "image" if x.dim() == 3 else "vector"
            self.info = DataInfo(tuple(x.shape), len(self.splits.class_names), kind, self.splits.class_names)
            self.in_memory = self.in_memory and isinstance(self.splits.train, TensorDataset)
            if kind == "image":
                mean_std = self.splits.mean_std or channel_stats(self.splits.train.tensors[0])
                self._mean, self._std = (torch.as_tensor(s, dtype=torch.float32) for s in mean_std)
        if self.in_memory:
            self.splits = self.splits.to(self._device())

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Images: random crop + flip while training (when `augment`), then uint8 -> normalised float32."""
        if self.info.kind != "image":
            return batch
        x, y = batch
        if self.augment and self.trainer is not None and self.trainer.training:
            x = crop_flip(x, PADDING, self._augment_generator(x.device))
        if self._mean.device != x.device:
            self._mean, self._std = self._mean.to(x.device), self._std.to(x.device)
        return normalize(x, self._mean, self._std), y

    def _epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def _batches(self, dataset, sampler: EpochSampler | None = None, drop_last: bool = False):
        if self.in_memory:
            return TensorBatches(*dataset.tensors, self.batch_size, sampler, drop_last, self._epoch)
        self.num_workers = workers_for(self.num_workers, dataset, self.batch_size, self._device())
        return DataLoader(dataset, self.batch_size, sampler=sampler, drop_last=drop_last,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          pin_memory=self._device().type == "cuda")

    def _augment_generator(self, device: torch.device) -> torch.Generator:
        """A generator on `device`, reseeded from (seed, epoch, rank) at each new epoch."""
        key = (self._epoch(), device)
        if self._generator_key != key:
            self._generator = torch.Generator(device).manual_seed(
                mix_seed(self.seed, self._epoch(), self.trainer.global_rank))
            self._generator_key = key
        return self._generator


def _standardized(splits):
    """Vector sets scaled by the training split's statistics, once; image sets unchanged (normalised per batch)."""
    if not isinstance(splits.train, TensorDataset) or splits.train.tensors[0].dim() != 2:
        return splits
    xs = standardize(*(s.tensors[0] for s in (splits.train, splits.val, splits.test)))
    train, val, test = (TensorDataset(x, s.tensors[1]) for x, s in zip(xs, (splits.train, splits.val, splits.test)))
    return replace(splits, train=train, val=val, test=test)
