"""Looks at a data set's files before training: they are where torchvision puts them, MNIST's idx files are whole,
and every image of an image folder decodes (fully when the folder is small, by its header otherwise).

Imports no torch (PIL only inside functions): it runs before the heavy imports. The image folder's listing is
shared with its loader (`image_folder.py`), so what is checked is what is trained on: links are followed, each
real folder is walked once (a link loop ends), each real file counted once.
"""
import os
import struct
from collections.abc import Mapping
from math import prod
from pathlib import Path

from PIL import Image

from reslab.errors import ConfigError

MNIST_CLASSES = 10

# torchvision's ImageFolder extensions (torchvision.datasets.folder.IMG_EXTENSIONS).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# Image folders of at most this many files are decoded in full before training: measured here 0.1 ms a 32 px PNG,
# 0.4 ms a 224 px JPEG, 1.2 ms a 500 px JPEG (header only: 0.03-0.06 ms), so at worst ~25 s, less than an epoch of
# such a set. Larger folders have their headers read; the loader then stops at the first image that does not decode.
FULL_CHECK_LIMIT = 20_000
SPLITS = ("train", "val", "test")


def check_listed_files(spec, cfg: Mapping) -> None:
    """The files a data set's catalogue entry lists (`spec.files`: where torchvision puts them under `root`) are
    there, unless `download=true` fetches them first."""
    if spec.files is None or cfg.get("download"):
        return
    sub, names = spec.files
    folder = Path(cfg["root"]).absolute() / sub.format(**cfg)
    absent = [f.format(**cfg) for f in names if not (folder / f.format(**cfg)).is_file()]
    if absent:
        fetch = "set dataset.download=true to fetch it there, or " if "download" in cfg else "set "
        raise ConfigError(f"dataset {spec.name}: no data at {folder} (missing {', '.join(absent)}); "
                          f"{fetch}dataset.root to where it lies")


def check_idx_files(spec, cfg: Mapping) -> None:
    """MNIST-format sets: the idx files are whole (see `check_idx`)."""
    if not cfg.get("download"):
        check_idx(spec.name, Path(cfg["root"]) / spec.files[0])


def check_idx(name: str, folder: Path) -> None:
    """MNIST's idx files (uint8 images N x H x W, labels N) hold what their headers say, images and labels agree in
    number, and every label is a class: torchvision's reader would fail mid-way with an assertion or a reshape."""
    for prefix in ("train", "t10k"):
        images = _idx_shape(name, folder / f"{prefix}-images-idx3-ubyte", 3)
        labels = _idx_shape(name, folder / f"{prefix}-labels-idx1-ubyte", 1)
        if images[0] != labels[0]:
            raise ConfigError(f"dataset {name}: {folder}/{prefix}-images-idx3-ubyte holds {images[0]} images but "
                              f"{prefix}-labels-idx1-ubyte {labels[0]} labels; {_REFETCH}")
        top = max((folder / f"{prefix}-labels-idx1-ubyte").read_bytes()[8:], default=0)
        if top >= MNIST_CLASSES:
            raise ConfigError(f"dataset {name}: {folder}/{prefix}-labels-idx1-ubyte holds label {top}, "
                              f"but the set has classes 0-{MNIST_CLASSES - 1}; {_REFETCH}")


_REFETCH = "delete it and set dataset.download=true to fetch it again"


def _idx_shape(name: str, path: Path, ndim: int) -> tuple[int, ...]:
    try:
        with open(path, "rb") as f:
            head = f.read(4 + 4 * ndim)
    except OSError as err:
        raise ConfigError(f"dataset {name}: cannot read {path} ({err.strerror}); {_REFETCH}") from None
    if len(head) < 4 + 4 * ndim or head[:4] != bytes([0, 0, 0x08, ndim]):
        raise ConfigError(f"dataset {name}: {path} is not an idx file of {ndim}-d uint8 values "
                          f"(header {head[:4].hex() or 'empty'}); {_REFETCH}")
    shape = struct.unpack(f">{ndim}I", head[4:])
    size, expected = path.stat().st_size, len(head) + prod(shape)
    if size != expected:
        state = "truncated" if size < expected else "longer than its header says"
        raise ConfigError(f"dataset {name}: {path} is {state}: {size} bytes for {' x '.join(map(str, shape))} "
                          f"values ({expected} bytes expected); {_REFETCH}")
    return shape


def image_folder_files(root: Path) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """(class names, {split: [(image path, class index), ...]}) of train/ and whichever of val/, test/ exist.

    Sorted as torchvision's ImageFolder sorts (class, folder, name). Links are followed, but a folder already
    walked is not entered again (so a loop ends) and a file reached twice is listed once; one file in two classes
    or in two splits (test data leaking into training) is refused."""
    train = root.absolute() / "train"
    if not train.is_dir():
        raise ConfigError(f"dataset.root={str(root)!r} has no train/ folder (looked for {train}); "
                          f"expected train/<class>/<images> with optional val/ and test/")
    classes = _class_folders(train)
    if len(classes) < 2:
        raise ConfigError(f"dataset imagefolder: {train} holds {len(classes)} class folder(s); "
                          f"need at least 2 (train/<class>/<images>)")
    splits, owner = {}, {}  # owner: real path -> (split, class, path) of its first listing
    for split in SPLITS:
        folder = train.parent / split
        if not folder.is_dir():
            continue
        if _class_folders(folder) != classes:
            raise ConfigError(f"dataset imagefolder: the class folders of {folder} differ from those of {train}: "
                              f"{', '.join(_class_folders(folder))} vs {', '.join(classes)}")
        # A class's walk never enters the split folder or another class's folder (a link up, a loop); a folder
        # linked into two classes is walked for both, so its images are refused below as being in two classes.
        tops = {os.path.realpath(p) for p in (folder, *(folder / c for c in classes))}
        splits[split] = []
        for index, cls in enumerate(classes):
            paths = _image_files(folder / cls, set(tops))
            if not paths and split == "train":
                raise ConfigError(f"dataset imagefolder: class folder {folder / cls} has no image files "
                                  f"({', '.join(IMAGE_EXTENSIONS)})")
            for path in paths:
                first = owner.setdefault(os.path.realpath(path), (split, cls, path))
                if first[:2] == (split, cls) and first[2] != path:
                    continue  # the same file through a link: once is enough
                if first[2] != path:
                    raise ConfigError(f"dataset imagefolder: {path} is the same file as {first[2]} (a link): "
                                      f"{_conflict(first[0], split)}; remove one of them")
                splits[split].append((path, index))
        if not splits[split]:
            raise ConfigError(f"dataset imagefolder: {folder} has no image files; add images or remove it")
    return classes, splits


def _conflict(first: str, second: str) -> str:
    if first == second:
        return "one image cannot belong to two classes"
    return f"an image of {second}/ would also be in {first}/ (test data leaking into training)"


def _class_folders(folder: Path) -> list[str]:
    return sorted(entry.name for entry in os.scandir(folder) if _is_dir(entry))


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links
    except OSError:  # a link to itself (ELOOP), unreadable: not a folder; as an image it fails the decode check
        return False


def _image_files(top: Path, seen_dirs: set[str]) -> list[str]:
    """Image files under `top`, links followed; subfolders whose real path is in `seen_dirs` are skipped (and each
    walked one is added), so a loop or a link to a folder walked already is entered once."""
    walked, stack = [], [str(top)]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as err:
            raise ConfigError(f"dataset imagefolder: cannot list {folder} ({err.strerror})") from None
        is_dir = [_is_dir(e) for e in entries]
        dirs = [e for e, d in zip(entries, is_dir) if d]
        walked.append((folder, [e.name for e, d in zip(entries, is_dir)
                                if not d and e.name.lower().endswith(IMAGE_EXTENSIONS)]))
        new = []
        for entry in dirs:  # in name order: the first route into a folder is the one listed
            real = os.path.realpath(entry.path)
            if real not in seen_dirs:
                seen_dirs.add(real)
                new.append(entry.path)
        stack.extend(reversed(new))
    return [os.path.join(folder, name) for folder, names in sorted(walked) for name in names]


def check_image_folder(spec, cfg: Mapping) -> None:
    """The folder's layout (see `image_folder_files`), then every image decodes: in full when there are at most
    FULL_CHECK_LIMIT of them, else by header (the loader stops cleanly at a bad one)."""
    _, splits = image_folder_files(Path(cfg["root"]))
    paths = [path for samples in splits.values() for path, _ in samples]
    check_images(paths, full=len(paths) <= FULL_CHECK_LIMIT)


def check_images(paths: list[str], full: bool) -> None:
    """Each image decodes (`full`) or at least its header reads; ConfigError (one line) naming the first that fails."""
    for path in paths:
        try:
            with Image.open(path) as image:
                if full:
                    image.load()
        except Exception as err:  # noqa: BLE001 - PIL raises OSError, SyntaxError, DecompressionBombError...
            raise ConfigError(f"dataset imagefolder: {path} is not a readable image ({unreadable(err)})") from None


def unreadable(err: Exception) -> str:
    """Why an image does not decode, in a few words."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
