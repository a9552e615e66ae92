"""A user's image folder: root/train/<class>/*, optional root/val and root/test (carved from train when absent),
decoded as uint8 tensors of image_size x image_size. A folder whose decoded images take at most `decoded_max_mb`
is decoded once, kept in a cache on disk (reslab.data.decoded_cache: a changed folder is decoded again) and served
as tensors like the in-memory sets; a larger one is decoded on access, through a DataLoader.

The files are those `files.image_folder_files` lists for the check before training (links followed once, no
loops, no file twice), in torchvision ImageFolder's order; an image that fails to decode stops training with one
line naming it.
"""
import logging
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset, TensorDataset
from torchvision.transforms import v2

from reslab.data import decoded_cache
from reslab.data.files import SPLITS, image_folder_files, unreadable
from reslab.data.splits import Splits, carve
from reslab.errors import ConfigError

# ImageNet's per-channel statistics: the usual normalisation for natural images of unknown origin.
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
log = logging.getLogger("reslab")


class UnreadableImage(ConfigError):
    """An image that does not decode while training. One line even from a DataLoader worker, which re-raises it
    with the worker's whole traceback as its message: the last line is this error's own."""

    def __init__(self, message: str):
        last = message.strip().splitlines()[-1] if message.strip() else message
        super().__init__(last.removeprefix(f"{type(self).__module__}.{type(self).__qualname__}: "))


class ImageFiles(Dataset):
    """(uint8 C x H x W image, class index) of each (path, class index) sample, decoded as RGB on access."""

    def __init__(self, samples: list[tuple[str, int]], transform):
        self.samples, self.transform = samples, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, target = self.samples[index]
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except Exception as err:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError...
            raise UnreadableImage(f"dataset imagefolder: {path} is not a readable image ({unreadable(err)}); "
                                  f"remove or replace it") from None
        return self.transform(rgb), target


def load(root: str, image_size: int, val_fraction: float, test_fraction: float, split_seed: int,
         decoded_max_mb: float = 0, cache_dir: str | None = None) -> Splits:
    """RGB uint8 images, shorter side resized to image_size then centre-cropped square: decoded once (and cached
    in `cache_dir`, default ~/.cache/reslab/decoded) when they take at most `decoded_max_mb` MiB, else on access."""
    transform = v2.Compose([v2.PILToTensor(), v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)])
    classes, samples = image_folder_files(Path(root))
    given = {split: ImageFiles(samples[split], transform) for split in samples}
    if decoded_cache.decoded_mb(samples, image_size) <= decoded_max_mb:
        given = decoded(Path(root), image_size, classes, samples, given, cache_dir)
    absent = [s for s in SPLITS[1:] if s not in given]
    fractions = {"val": val_fraction, "test": test_fraction}
    rest, *carved = carve(given["train"], [fractions[s] for s in absent], split_seed)
    parts = {**given, **dict(zip(absent, carved))}
    return Splits(rest, parts["val"], parts["test"], classes, IMAGENET_MEAN_STD)


def decoded(root: Path, image_size: int, classes: list[str], samples: dict, files: dict[str, ImageFiles],
            cache_dir: str | None) -> dict[str, TensorDataset]:
    """{split: TensorDataset(uint8 images, labels)}: the cache entry of this folder when it is fresh and sound, else
    every image decoded (as `files` decodes it: the same pixels as the DataLoader path) and the entry written."""
    expected = decoded_cache.manifest(root, image_size, classes, samples)
    folder = decoded_cache.entry_dir(Path(cache_dir) if cache_dir else decoded_cache.default_dir(), root, image_size)
    tensors = decoded_cache.load(folder, expected)
    if tensors is None:
        start = time.perf_counter()
        tensors = {}
        for split, dataset in files.items():
            images = torch.empty(len(dataset), 3, image_size, image_size, dtype=torch.uint8)
            for i in range(len(dataset)):
                images[i] = dataset[i][0]
            tensors[split] = (images, torch.tensor([c for _, c in dataset.samples], dtype=torch.int64))
        saved = decoded_cache.save(folder, expected, tensors)
        log.info("dataset imagefolder: %d images decoded in %.1f s%s", len(expected["files"]),
                 time.perf_counter() - start, f", cached in {folder}" if saved else "")
    return {split: TensorDataset(*pair) for split, pair in tensors.items()}
