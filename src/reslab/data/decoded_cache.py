"""Image folders decoded once: the decoded uint8 tensors of a folder that fits in memory, kept on disk next to a
manifest of the files they came from, so that the next run loads arrays instead of decoding every image.

A cache entry is a folder `<cache_dir>/<key>/` (key: the image folder's real path and the image size) holding
`<split>.images.npy` (uint8, N x 3 x S x S), `<split>.labels.npy` (int64, N) and `manifest.json`: the format,
the image size, the class names, every file (split, path, class index, size in bytes, mtime in ns) and a
BLAKE2 digest of each array. The entry is used only when the manifest equals the one the folder gives now (a
file added, removed, rewritten or touched: decoded again, never a stale cache) and every array has the shape,
dtype, label range and digest the manifest names (a truncated, corrupt or crafted entry is decoded again, with a
warning). Arrays are NumPy's .npy read with allow_pickle=False: no object in the cache can run code. Every file
is written atomically (reslab.run_files.atomic_write), the manifest last, so a killed write leaves no entry that
passes the checks.
"""
import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from reslab.run_files import atomic_write, cache_dir, read_json

log = logging.getLogger("reslab")

FORMAT = 1  # bump when the decoding (transform) or the layout of an entry changes


def default_dir() -> Path:
    """~/.cache/reslab/decoded ($XDG_CACHE_HOME/reslab/decoded), where reslab keeps its other caches."""
    return cache_dir() / "decoded"


def decoded_mb(samples: dict[str, list], image_size: int) -> float:
    """MiB the decoded uint8 RGB images of `samples` ({split: [(path, class), ...]}) take."""
    return sum(len(s) for s in samples.values()) * 3 * image_size**2 / 2**20


def manifest(root: Path, image_size: int, classes: list[str], samples: dict[str, list]) -> dict:
    """What an entry was decoded from: the folder, the size, the classes and each file's (split, path, class, size,
    mtime). Stat'ing the files costs ~10 us each, far less than decoding them."""
    files = []
    for split, pairs in samples.items():
        for path, index in pairs:
            stat = os.stat(path)
            files.append([split, path, index, stat.st_size, stat.st_mtime_ns])
    return {"format": FORMAT, "root": os.path.realpath(root), "image_size": image_size, "classes": classes,
            "files": files}


def entry_dir(cache_dir: Path, root: Path, image_size: int) -> Path:
    key = hashlib.sha256(f"{os.path.realpath(root)}|{image_size}".encode()).hexdigest()[:20]
    return Path(cache_dir) / key


def load(folder: Path, expected: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]] | None:
    """{split: (images, labels)} of the entry in `folder` when its manifest is `expected` (see `manifest`) and its
    arrays pass every check; None when there is no entry, it is stale, or it fails a check (then a warning)."""
    saved = read_json(folder / "manifest.json")
    if saved is None:
        return None
    digests = saved.pop("digests", None)
    if saved != expected:
        log.info("decoded cache %s: the folder changed since it was decoded; decoding again", folder)
        return None
    try:
        out = {}
        for split in dict.fromkeys(f[0] for f in expected["files"]):
            count = sum(1 for f in expected["files"] if f[0] == split)
            labels_expected = [f[2] for f in expected["files"] if f[0] == split]
            images = np.load(folder / f"{split}.images.npy", allow_pickle=False)
            labels = np.load(folder / f"{split}.labels.npy", allow_pickle=False)
            size = expected["image_size"]
            if images.dtype != np.uint8 or images.shape != (count, 3, size, size):
                raise ValueError(f"{split} images are {images.dtype} {images.shape}, not uint8 "
                                 f"{(count, 3, size, size)}")
            if labels.dtype != np.int64 or labels.tolist() != labels_expected:
                raise ValueError(f"{split} labels differ from the manifest's classes")
            for name, array in (("images", images), ("labels", labels)):
                if _digest(array) != (digests or {}).get(f"{split}.{name}"):
                    raise ValueError(f"{split}.{name}.npy does not match its digest")
            out[split] = (torch.from_numpy(images), torch.from_numpy(labels))
        return out
    except (OSError, ValueError, EOFError) as err:  # np.load: truncated or not an array file
        log.warning("decoded cache %s is damaged (%s): decoding the folder again", folder, err)
        return None


def save(folder: Path, expected: dict, decoded: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> bool:
    """Write an entry (arrays first, the manifest last, each atomically); False (and a warning) when the cache
    folder cannot be written: the run goes on with the tensors it decoded."""
    try:
        digests = {}
        for split, (images, labels) in decoded.items():
            for name, tensor in (("images", images), ("labels", labels)):
                array = tensor.numpy()
                digests[f"{split}.{name}"] = _digest(array)
                atomic_write(folder / f"{split}.{name}.npy", lambda f, a=array: np.save(f, a, allow_pickle=False))
        text = json.dumps({**expected, "digests": digests}).encode()
        atomic_write(folder / "manifest.json", lambda f: f.write(text))
        return True
    except OSError as err:
        log.warning("decoded cache %s not written (%s): the next run decodes the folder again", folder, err)
        return False


def _digest(array: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(array).data, digest_size=16).hexdigest()
