"""`voc`: PASCAL VOC detection from a local VOCdevkit (torchvision VOCDetection): the `train` image set carved
into train/val, the `val` image set as test (VOC's test annotations are not public)."""
import xml.etree.ElementTree as ET

import torch
from torchvision.datasets import VOCDetection

from reslab.data.detection_data import ImageFiles
from reslab.data.splits import Splits, carve
from reslab.errors import ConfigError

CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
           "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


def _target(annotation: dict) -> dict:
    """VOC boxes are 1-based inclusive pixel indices; as pixel edges that is (xmin - 1, ymin - 1, xmax, ymax)."""
    objects = annotation["annotation"].get("object", [])
    boxes = torch.tensor([[float(o["bndbox"][k]) for k in ("xmin", "ymin", "xmax", "ymax")] for o in objects],
                         dtype=torch.float32).reshape(-1, 4) - torch.tensor([1.0, 1.0, 0.0, 0.0])
    if (boxes[:, 2:] <= boxes[:, :2]).any():
        raise ValueError("a box with xmax < xmin or ymax < ymin")
    labels = torch.tensor([CLASSES.index(o["name"]) + 1 for o in objects], dtype=torch.int64)
    return {"boxes": boxes, "labels": labels}


def _image_set(root: str, year: int, image_set: str, image_size: int) -> ImageFiles:
    dataset = VOCDetection(root, str(year), image_set)
    targets = []
    for path in dataset.annotations:
        try:
            targets.append(_target(dataset.parse_voc_xml(ET.parse(path).getroot())))
        except (OSError, ET.ParseError, KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"dataset voc: {path} is not a valid VOC annotation "
                              f"({type(err).__name__}: {err})") from None
    return ImageFiles(dataset.images, targets, image_size)


def load(root: str, year: int, image_size: int, val_fraction: float, split_seed: int) -> Splits:
    train, val = carve(_image_set(root, year, "train", image_size), (val_fraction,), split_seed)
    return Splits(train, val, _image_set(root, year, "val", image_size), list(CLASSES))
