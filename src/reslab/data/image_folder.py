"""A user's image folder: root/train/<class>/*, optional root/val and root/test (carved from train when absent),
read by torchvision's ImageFolder as uint8 tensors of image_size x image_size, fed by a DataLoader."""
from pathlib import Path

from reslab.data.splits import Splits, carve

# ImageNet's per-channel statistics: the usual normalisation for natural images of unknown origin.
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def load(root: str, image_size: int, val_fraction: float, test_fraction: float, split_seed: int) -> Splits:
    """RGB uint8 images, shorter side resized to image_size then centre-cropped square."""
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2

    transform = v2.Compose([v2.PILToTensor(), v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)])
    folders = {split: Path(root) / split for split in ("train", "val", "test")}
    train = ImageFolder(folders["train"], transform)
    absent = [s for s in ("val", "test") if not folders[s].is_dir()]
    fractions = {"val": val_fraction, "test": test_fraction}
    rest, *carved = carve(train, [fractions[s] for s in absent], split_seed)
    parts = dict(zip(absent, carved))
    val, test = (parts[s] if s in parts else ImageFolder(folders[s], transform) for s in ("val", "test"))
    return Splits(rest, val, test, list(train.classes), IMAGENET_MEAN_STD)
