"""Sizes the machine cannot hold, refused before anything is allocated, with the estimate in the message.

Rough upper estimates on purpose: they only have to tell 16 GB from 16 TB (`width=100000`, `dataset.image_size=
100000`, a synthetic set of 1e9 samples), never refuse a setting that fits.
"""
import os

from reslab.data.catalog import DataSet
from reslab.errors import ConfigError

SHARE = 0.5  # refuse what would need more than this share of the machine's memory


def memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _refuse(key: str, value, need: float, what: str) -> None:
    have = memory_bytes()
    if need > SHARE * have:
        raise ConfigError(f"{key}={value!r} needs about {need / 2**30:,.0f} GiB for {what}, more than half of this "
                          f"machine's {have / 2**30:.0f} GiB: choose a smaller {key}")


def check(values: dict, spec: DataSet) -> None:
    """`spec`: the data set's catalogue entry (its fixed image side, the memory a set of any size needs)."""
    dataset, width, depth = values["dataset"], values["width"], values["depth"]
    side = dataset.get("image_size", spec.side)
    if side is not None:
        _refuse("dataset.image_size", side, values["batch_size"] * 3 * side**2 * 4 * 4,
                f"one batch of {values['batch_size']} float images and their first activations")
    if spec.memory is not None:
        key, need, what = spec.memory(dataset)
        _refuse(key, dataset[key.removeprefix("dataset.")], need, what)
    if width is not None:
        params = depth * 9 * (8 * width) ** 2  # every conv as wide as the widest stage: an upper bound
        _refuse("width", width, params * 16, f"the weights, gradients and optimizer state (~{params:.1e} parameters)")
