"""`coco`: COCO-format detection from a local folder (torchvision CocoDetection, pycocotools):
root/train{year}/ + root/annotations/instances_train{year}.json carved into train/val, and
root/val{year}/ + instances_val{year}.json as test. Category ids become labels 1..K in id order; crowd
regions and boxes under a pixel wide are left out (torchvision's detection recipe does the same)."""
import contextlib
import io
import json
import os

import torch
from torchvision.datasets import CocoDetection

from reslab.data.detection_data import ImageFiles
from reslab.data.splits import Splits, carve
from reslab.errors import ConfigError


def _read(images: str, annotations: str) -> CocoDetection:
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
            return CocoDetection(images, annotations)
    except (json.JSONDecodeError, AssertionError, KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"dataset coco: {annotations} is not a valid COCO instances file "
                          f"({type(err).__name__}: {err})".splitlines()[0]) from None


def _image_set(root: str, split: str, image_size: int,
               labels: dict | None = None) -> tuple[ImageFiles, dict[int, int], list[str]]:
    """The images of one split, {category id: label} (given: the training split's) and the class names."""
    annotations = os.path.join(root, "annotations", f"instances_{split}.json")
    coco = _read(os.path.join(root, split), annotations).coco
    labels = labels or {cat: i + 1 for i, cat in enumerate(sorted(coco.getCatIds()))}
    paths, targets = [], []
    try:
        for image_id in sorted(coco.imgs):
            anns = [a for a in coco.imgToAnns[image_id]
                    if not a.get("iscrowd", 0) and a["bbox"][2] >= 1 and a["bbox"][3] >= 1]
            boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
            boxes[:, 2:] += boxes[:, :2]  # x, y, w, h -> x1, y1, x2, y2
            targets.append({"boxes": boxes, "labels": torch.tensor([labels[a["category_id"]] for a in anns],
                                                                   dtype=torch.int64)})
            paths.append(os.path.join(root, split, coco.imgs[image_id]["file_name"]))
        names = [coco.cats[cat]["name"] for cat in labels]
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise ConfigError(f"dataset coco: {annotations} has a malformed annotation "
                          f"({type(err).__name__}: {err}); expected COCO instances format") from None
    return ImageFiles(paths, targets, image_size), labels, names


def load(root: str, year: int, image_size: int, val_fraction: float, split_seed: int) -> Splits:
    trainval, labels, names = _image_set(root, f"train{year}", image_size)
    test, _, _ = _image_set(root, f"val{year}", image_size, labels)
    train, val = carve(trainval, (val_fraction,), split_seed)
    return Splits(train, val, test, names)
