"""Fail-fast checks of the `dataset` config group: option names, values and cheap looks at the files.

Imports no torch: it runs before the heavy imports, so a typo or a missing folder costs a second.
"""
import os
from collections.abc import Mapping
from pathlib import Path

from reslab.errors import ConfigError

_SPLIT = ("val_fraction", "test_fraction", "split_seed", "in_memory")
_FILE_SET = ("root", "download", "val_fraction", "split_seed", "augment", "in_memory")

# The option keys of each data set: exactly the keys (besides `name`) of conf/dataset/<name>.yaml.
OPTIONS = {
    "digits": (*_SPLIT, "augment"),
    "digits_flat": _SPLIT,
    "wine": _SPLIT,
    "breast_cancer": _SPLIT,
    "cifar10": _FILE_SET,
    "cifar100": _FILE_SET,
    "mnist": _FILE_SET,
    "fashion_mnist": _FILE_SET,
    "imagefolder": ("root", "image_size", "val_fraction", "test_fraction", "split_seed", "augment", "num_workers"),
    "synthetic": (*_SPLIT, "augment", "shape", "image_size", "channels", "num_classes", "num_samples", "noise"),
    "shapes": ("image_size", "num_samples", "max_objects", "val_fraction", "test_fraction", "split_seed"),
    "voc": ("root", "year", "image_size", "val_fraction", "split_seed", "num_workers"),
    "coco": ("root", "year", "image_size", "val_fraction", "split_seed", "num_workers"),
}

# The data sets of task=detection (reslab/data/<name>.py); every other set is for classification.
DETECTION_SETS = ("shapes", "voc", "coco")

_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte")
# Where torchvision's download puts each file-based set under `root`, and the files read from there
# ({year} and other option names are filled in from the config).
FILES = {
    "voc": ("VOCdevkit/VOC{year}", ("ImageSets/Main/train.txt", "ImageSets/Main/val.txt")),
    "coco": (".", ("annotations/instances_train{year}.json", "annotations/instances_val{year}.json")),
    "cifar10": ("cifar-10-batches-py", (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")),
    "cifar100": ("cifar-100-python", ("train", "test", "meta")),
    "mnist": ("MNIST/raw", _MNIST_FILES),
    "fashion_mnist": ("FashionMNIST/raw", _MNIST_FILES),
}

# torchvision's ImageFolder extensions (torchvision.datasets.folder.IMG_EXTENSIONS).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_BOOL = (lambda v: isinstance(v, bool), "true or false")
_FRACTION = (lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)")
# key: (test, what a valid value is)
_RULES = {
    "val_fraction": _FRACTION,
    "test_fraction": _FRACTION,
    "split_seed": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "in_memory": _BOOL,
    "augment": _BOOL,
    "download": _BOOL,
    "root": (lambda v: isinstance(v, str) and v != "", "a folder path"),
    "image_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "channels": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "num_classes": (lambda v: _is_int(v) and v >= 2, "an integer >= 2"),
    "num_samples": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "noise": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "num_workers": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "shape": (lambda v: v in ("image", "vector"), "image or vector"),
    "max_objects": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "year": (lambda v: _is_int(v) and v >= 2007, "a year such as 2012 (VOC) or 2017 (COCO)"),
}


def check_dataset(cfg: Mapping) -> None:
    """Raise ConfigError (one line) for the first problem in a `dataset` config: name, keys, values, files."""
    name = cfg.get("name")
    if name not in OPTIONS:
        raise ConfigError(f"dataset.name={name!r} is unknown: choose one of {', '.join(OPTIONS)}")
    given = set(cfg) - {"name"}
    unknown = sorted(given - set(OPTIONS[name]))
    if unknown:
        raise ConfigError(f"dataset.{unknown[0]} is not an option of dataset {name}: "
                          f"valid options are {', '.join(OPTIONS[name])}")
    missing = [key for key in OPTIONS[name] if key not in given]
    if missing:
        raise ConfigError(f"dataset {name} is missing option(s) {', '.join(missing)} (see conf/dataset/{name}.yaml)")
    for key in OPTIONS[name]:
        test, valid = _RULES[key]
        if not test(cfg[key]):
            raise ConfigError(f"dataset.{key}={cfg[key]!r} is invalid: expected {valid}")
    if cfg.get("val_fraction", 0) + cfg.get("test_fraction", 0) >= 1:
        raise ConfigError(f"dataset.val_fraction + dataset.test_fraction = "
                          f"{cfg['val_fraction'] + cfg['test_fraction']} leaves no training data: keep it below 1")
    if name in FILES and not cfg.get("download"):
        _check_files(name, cfg)
    if name == "imagefolder":
        _check_image_folder(Path(cfg["root"]))


def check_task_dataset(task: str, dataset: str) -> None:
    """task=detection takes only the detection sets, task=classification only the others."""
    valid = DETECTION_SETS if task == "detection" else tuple(n for n in OPTIONS if n not in DETECTION_SETS)
    if dataset not in valid:
        raise ConfigError(f"dataset={dataset} is not a {task} data set: choose one of {', '.join(valid)}")


def _check_files(name: str, cfg: Mapping) -> None:
    sub, files = FILES[name]
    folder = Path(cfg["root"]).absolute() / sub.format(**cfg)
    absent = [f.format(**cfg) for f in files if not (folder / f.format(**cfg)).is_file()]
    if absent:
        fetch = "set dataset.download=true to fetch it there, or " if "download" in cfg else "set "
        raise ConfigError(f"dataset {name}: no data at {folder} (missing {', '.join(absent)}); "
                          f"{fetch}dataset.root to where it lies")


def _check_image_folder(root: Path) -> None:
    """train/<class>/<images>, at least 2 classes, each with an image file whose header reads; val/ and test/,
    when present, must hold the same class folders (ImageFolder numbers classes by sorted folder name)."""
    train = root.absolute() / "train"
    if not train.is_dir():
        raise ConfigError(f"dataset.root={str(root)!r} has no train/ folder (looked for {train}); "
                          f"expected train/<class>/<images> with optional val/ and test/")
    classes = _class_folders(train)
    if len(classes) < 2:
        raise ConfigError(f"dataset imagefolder: {train} holds {len(classes)} class folder(s); "
                          f"need at least 2 (train/<class>/<images>)")
    for split in ("val", "test"):
        folder = train.parent / split
        if folder.is_dir() and _class_folders(folder) != classes:
            raise ConfigError(f"dataset imagefolder: the class folders of {folder} differ from those of {train}: "
                              f"{', '.join(_class_folders(folder))} vs {', '.join(classes)}")
    for cls in classes:
        _check_readable(train / cls)


def _class_folders(folder: Path) -> list[str]:
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())


def _check_readable(folder: Path) -> None:
    """Every image file (by extension) of a class folder must open as an image. Only headers are read
    (tens of microseconds a file), so a broken file stops the run before training, not in the middle of it."""
    from PIL import Image, UnidentifiedImageError

    found = False
    for dirpath, _, names in sorted(os.walk(folder, followlinks=True)):
        for file in sorted(names):
            if file.lower().endswith(IMAGE_EXTENSIONS):
                path = Path(dirpath) / file
                try:
                    with Image.open(path):
                        found = True
                except (UnidentifiedImageError, OSError) as err:
                    raise ConfigError(f"dataset imagefolder: {path} is not a readable image ({err})") from None
    if not found:
        raise ConfigError(f"dataset imagefolder: class folder {folder} has no image files "
                          f"({', '.join(IMAGE_EXTENSIONS)})")


def check_num_classes(expected: int | None, found: int, dataset: str) -> None:
    """The top-level `num_classes` (when given) must agree with what the loaded data set holds."""
    if expected is not None and expected != found:
        raise ConfigError(f"num_classes={expected} disagrees with dataset={dataset}, which has {found} classes: "
                          f"set num_classes={found} or null")
