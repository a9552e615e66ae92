"""Detection data: samples are (uint8 image (3, H, W), target {"boxes": (N, 4) xyxy pixels, "labels": (N,)
in 1..K}), label 0 being torchvision's background. Batches are lists (images may differ in size); the detector
resizes and normalises them itself. `DetectionData` is the DataModule of the shapes, voc and coco sets."""
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2.functional import resize

from reslab.data.batches import EpochSampler
from reslab.data.module import DataInfo, SplitsData, load_splits
from reslab.data.workers import workers_for


class InMemoryDetection(Dataset):
    """Images held as one uint8 tensor (N, 3, H, W), one target dict each."""

    def __init__(self, images: Tensor, targets: list[dict]):
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.targets[i]


class ImageFiles(Dataset):
    """Image files read on access, resized so their shorter side is `image_size`, boxes scaled with them."""

    def __init__(self, paths: list[str], targets: list[dict], image_size: int):
        self.paths, self.targets, self.image_size = paths, targets, image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        image = decode_image(self.paths[i], mode=ImageReadMode.RGB)
        height, width = image.shape[1:]
        image = resize(image, [self.image_size], antialias=True)
        sx, sy = image.shape[2] / width, image.shape[1] / height
        target = self.targets[i]
        return image, {"boxes": target["boxes"] * torch.tensor([sx, sy, sx, sy]), "labels": target["labels"]}


def collate(samples):
    """[(image, target), ...] -> ([images], [targets])."""
    images, targets = zip(*samples)
    return list(images), list(targets)


class DetectionData(SplitsData):
    """`DetectionData(name=..., batch_size=..., seed=..., **options)`, the options being the keys of
    conf/dataset/<name>.yaml. Call `setup()` (idempotent) before reading `info` (its `input_shape` is
    (3, image_size, image_size): the size images are resized to, whatever their aspect)."""

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:
            self.splits = load_splits(self.spec, self.loader_options)
            size = self.loader_options["image_size"]
            names = self.splits.class_names
            self.info = DataInfo((3, size, size), len(names), "image", names)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """uint8 -> float in [0, 1] on the device (the detector's transform normalises)."""
        images, targets = batch
        return [image.float() / 255 for image in images], targets

    def _batches(self, dataset, sampler: EpochSampler | None = None, drop_last: bool = False) -> DataLoader:
        self.num_workers = workers_for(self.num_workers, dataset, self.batch_size, self._device())
        return DataLoader(dataset, self.batch_size, sampler=sampler, drop_last=drop_last, collate_fn=collate,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)
