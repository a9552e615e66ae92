"""Sizes the machine cannot hold, refused before anything is allocated, with the estimate in the message.

Rough upper estimates on purpose: they only have to tell 16 GB from 16 TB (`width=100000`, `dataset.image_size=
100000`, a synthetic set of 1e9 samples), never refuse a setting that fits.
"""
import os

from reslab.errors import ConfigError

SHARE = 0.5  # refuse what would need more than this share of the machine's memory


def memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _refuse(key: str, value, need: float, what: str) -> None:
    have = memory_bytes()
    if need > SHARE * have:
        raise ConfigError(f"{key}={value!r} needs about {need / 2**30:,.0f} GiB for {what}, more than half of this "
                          f"machine's {have / 2**30:.0f} GiB: choose a smaller {key}")


def _image_side(dataset: dict) -> int | None:
    if "image_size" in dataset:
        return dataset["image_size"]
    return {"cifar10": 32, "cifar100": 32, "mnist": 28, "fashion_mnist": 28, "digits": 8}.get(dataset["name"])


def check(values: dict) -> None:
    dataset, width, depth = values["dataset"], values["width"], values["depth"]
    side = _image_side(dataset)
    if side is not None:
        _refuse("dataset.image_size", side, values["batch_size"] * 3 * side**2 * 4 * 4,
                f"one batch of {values['batch_size']} float images and their first activations")
    if dataset["name"] == "synthetic":
        per_sample = dataset["channels"] * dataset["image_size"] ** 2 * (4 if dataset["shape"] == "vector" else 1)
        _refuse("dataset.num_samples", dataset["num_samples"], dataset["num_samples"] * per_sample,
                f"the samples ({per_sample:,} bytes each)")
    if width is not None:
        params = depth * 9 * (8 * width) ** 2  # every conv as wide as the widest stage: an upper bound
        _refuse("width", width, params * 16, f"the weights, gradients and optimizer state (~{params:.1e} parameters)")
