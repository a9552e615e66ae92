"""CIFAR-10/100, MNIST and Fashion-MNIST from their on-disk formats under `root`, where torchvision's download
puts them (their catalogue entries' `files`, reslab.data.catalog), held as uint8 NCHW tensors."""
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset
from torchvision import datasets

from reslab.data import safe_pickle
from reslab.data.catalog import DATASETS
from reslab.data.files import check_idx
from reslab.data.splits import Splits, carve
from reslab.errors import ConfigError


def _dataset_class(name: str):
    return {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100, "mnist": datasets.MNIST,
            "fashion_mnist": datasets.FashionMNIST}[name]


def fetch(name: str, root: str) -> None:
    """Download (and verify) both splits into `root`; torchvision skips files already there."""
    for train in (True, False):
        _dataset_class(name)(root, train=train, download=True)


def load(name: str, root: str, download: bool, val_fraction: float, split_seed: int) -> Splits:
    """Train (minus a validation part carved with `split_seed`) and the official test split.
    `download` is acted on by `fetch` (the DataModule's prepare_data), not here."""
    read = _read_cifar if name.startswith("cifar") else _read_mnist
    (train_x, train_y), (test_x, test_y), class_names = read(name, root)
    train, val = carve(TensorDataset(train_x, train_y), (val_fraction,), split_seed)
    return Splits(train, val, TensorDataset(test_x, test_y), class_names)


def _read_cifar(name: str, root: str):
    """CIFAR's python batches: pickled dicts with `data` (N x 3072 uint8, channel-major) and `labels` (CIFAR-10)
    or `fine_labels` (CIFAR-100). Read directly: torchvision's CIFAR classes check each file's md5 on every load,
    and unpickle with plain pickle, which runs whatever code a crafted file names; `safe_pickle` refuses it."""
    sub, files = DATASETS.get(name).files
    folder = Path(root) / sub
    *train_files, test_file, meta_file = files
    classes = 10 if name == "cifar10" else 100
    label_key, names_key = ("labels", "label_names") if name == "cifar10" else ("fine_labels", "fine_label_names")

    def read(paths):
        entries = [_batch(name, folder / p, label_key, classes) for p in paths]
        x = np.concatenate([x for x, _ in entries]).reshape(-1, 3, 32, 32)
        y = np.concatenate([y for _, y in entries])
        return torch.from_numpy(x), torch.from_numpy(y).long()

    meta = folder / meta_file
    names = _entries(name, meta, names_key).get(names_key)
    if not (isinstance(names, list) and len(names) == classes and all(isinstance(n, str) for n in names)):
        raise _not_cifar(name, meta, f"{names_key!r} is not a list of {classes} names")
    return read(train_files), read([test_file]), names


def _batch(name: str, path: Path, label_key: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 3072 uint8, labels N in [0, classes)) of one python batch, or a one-line ConfigError."""
    entry = _entries(name, path, "data", label_key)
    data = entry["data"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
        found = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise _not_cifar(name, path, f"'data' is a {found}, not N x 3072 uint8 values")
    try:
        labels = np.asarray(entry[label_key])
    except ValueError:
        labels = np.asarray(None)
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu" or not ((0 <= labels) & (labels < classes)).all():
        raise _not_cifar(name, path, f"{label_key!r} is not {len(data)} class numbers in 0-{classes - 1}")
    return data, labels


def _entries(name: str, path: Path, *keys: str) -> dict:
    """The dict pickled in `path`, which must hold `keys`; unpickled without running code."""
    try:
        entry = safe_pickle.load(path)
    except safe_pickle.Refused as err:
        raise ConfigError(f"dataset {name}: {path} refused: it asks for {err}, not data") from None
    except Exception as err:  # noqa: BLE001 - whatever fails to unpickle is not a data file
        text = str(err).strip().splitlines()
        truncated = isinstance(err, EOFError) or "truncated" in str(err)
        raise _not_cifar(name, path, "truncated file" if truncated else
                         f"{type(err).__name__}: {text[0] if text else 'corrupt file'}") from None
    if not isinstance(entry, dict):
        raise _not_cifar(name, path, f"it holds a {type(entry).__name__}, not a dict")
    missing = [key for key in keys if key not in entry]
    if missing:
        raise _not_cifar(name, path, f"no {missing[0]!r} entry (it has {', '.join(map(repr, entry)) or 'none'})")
    return entry


def _not_cifar(name: str, path: Path, why: str) -> ConfigError:
    return ConfigError(f"dataset {name}: {path} is not a CIFAR python file ({why}); "
                       f"delete it and set dataset.download=true to fetch it again")


def _read_mnist(name: str, root: str):
    """MNIST-format idx files under <root>/<MNIST|FashionMNIST>/raw, read by torchvision's classes."""
    cls = _dataset_class(name)
    folder = Path(root) / DATASETS.get(name).files[0]
    check_idx(name, folder)  # torchvision's reader fails on a bad file with an assertion
    try:
        train, test = (cls(root, train=flag, download=False) for flag in (True, False))
    except (AssertionError, RuntimeError, ValueError, OSError) as err:
        raise ConfigError(f"dataset {name}: the idx files under {folder} do not read "
                          f"({type(err).__name__}: {(str(err).strip() or 'bad header').splitlines()[0]})") from None
    return *((ds.data.unsqueeze(1), ds.targets.long()) for ds in (train, test)), list(train.classes)
