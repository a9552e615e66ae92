"""CIFAR-10/100, MNIST and Fashion-MNIST from their on-disk formats under `root`, where torchvision's download
puts them (see `checks.FILES`), held as uint8 NCHW tensors."""
import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from reslab.data.checks import FILES
from reslab.data.splits import Splits, carve


def _dataset_class(name: str):
    from torchvision import datasets  # imported here: it costs start-up time

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
    or `fine_labels` (CIFAR-100). Read directly: torchvision's CIFAR classes check each file's md5 on every load."""
    sub, files = FILES[name]
    folder = Path(root) / sub
    *train_files, test_file, meta_file = files
    label_key, names_key = ("labels", "label_names") if name == "cifar10" else ("fine_labels", "fine_label_names")

    def read(paths):
        entries = [_unpickle(folder / p) for p in paths]
        x = np.concatenate([e["data"] for e in entries]).reshape(-1, 3, 32, 32)
        y = np.concatenate([e[label_key] for e in entries])
        return torch.from_numpy(x), torch.from_numpy(y).long()

    return read(train_files), read([test_file]), list(_unpickle(folder / meta_file)[names_key])


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _read_mnist(name: str, root: str):
    """MNIST-format idx files under <root>/<MNIST|FashionMNIST>/raw, read by torchvision's classes."""
    cls = _dataset_class(name)
    train, test = (cls(root, train=flag, download=False) for flag in (True, False))
    return *((ds.data.unsqueeze(1), ds.targets.long()) for ds in (train, test)), list(train.classes)
