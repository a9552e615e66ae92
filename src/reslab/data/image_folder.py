"""A user's image folder: root/train/<class>/*, optional root/val and root/test (carved from train when absent),
decoded as uint8 tensors of image_size x image_size, fed by a DataLoader.

The files are those `files.image_folder_files` lists for the check before training (links followed once, no
loops, no file twice), in torchvision ImageFolder's order; an image that fails to decode stops training with one
line naming it.
"""
from pathlib import Path

from torch.utils.data import Dataset

from reslab.data.files import SPLITS, image_folder_files, unreadable
from reslab.data.splits import Splits, carve
from reslab.errors import ConfigError

# ImageNet's per-channel statistics: the usual normalisation for natural images of unknown origin.
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


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
        from PIL import Image

        path, target = self.samples[index]
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except Exception as err:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError...
            raise UnreadableImage(f"dataset imagefolder: {path} is not a readable image ({unreadable(err)}); "
                                  f"remove or replace it") from None
        return self.transform(rgb), target


def load(root: str, image_size: int, val_fraction: float, test_fraction: float, split_seed: int) -> Splits:
    """RGB uint8 images, shorter side resized to image_size then centre-cropped square."""
    from torchvision.transforms import v2

    transform = v2.Compose([v2.PILToTensor(), v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)])
    classes, samples = image_folder_files(Path(root))
    given = {split: ImageFiles(samples[split], transform) for split in samples}
    absent = [s for s in SPLITS[1:] if s not in given]
    fractions = {"val": val_fraction, "test": test_fraction}
    rest, *carved = carve(given["train"], [fractions[s] for s in absent], split_seed)
    parts = {**given, **dict(zip(absent, carved))}
    return Splits(rest, parts["val"], parts["test"], classes, IMAGENET_MEAN_STD)
