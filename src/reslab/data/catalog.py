"""The data catalogue: every data set of the `dataset` config group, declared once (its loader, the task it serves,
its input kind, its files and their checks); conf/dataset/<name>.yaml holds its user-visible options.

Imports no torch: the config validator reads it before the heavy imports. A loader is named by its
"package.module:function" path and imported when the data set is loaded. A data set of your own registers itself
with `@register_dataset` on its loader (docs/extending.md):

    @register_dataset("tiny", side=4)
    def load(val_fraction, test_fraction, split_seed) -> Splits: ...
"""
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from reslab.catalog import Catalog
from reslab.data import files
from reslab.errors import ConfigError


@dataclass(frozen=True)
class DataSet:
    """One data set. `loader(**options)` returns its `Splits` (options: the keys of its YAML file but `name`,
    `module` and the DataModule's own `augment`, `in_memory`, `num_workers`; plus the fixed `args`)."""

    name: str
    loader: str | Callable
    task: str = "classification"  # the task it serves: classification | detection
    vector: bool | None = False  # feature vectors (the residual MLP family); None: `dataset.shape` says
    side: int | None = None  # the images' fixed side (None: `dataset.image_size`, if any): sizes the memory check
    args: Mapping = field(default_factory=dict)  # fixed arguments of the loader (a family's member name)
    # Where torchvision's download puts its files under `root` and the files read there ({year}: the option)
    files: tuple[str, tuple[str, ...]] | None = None
    check: Callable[[str, Mapping], None] | None = None  # more checks of its files before training (pure Python)
    fetch: str | None = None  # "module:function" (name, root) downloading the files when `download=true`
    memory: Callable[[Mapping], tuple[str, float, str]] | None = None  # (key, bytes, what) of a set of any size
    rules: Mapping = field(default_factory=dict)  # {option: reslab.config.rules.Rule} of options only it has
    # The samples its splits are carved from (an int, or from the options; None: known once the files are read)
    samples: int | Callable[[Mapping], int] | None = None

    def carved_from(self, options: Mapping) -> int | None:
        return self.samples(options) if callable(self.samples) else self.samples

    def is_vector(self, options: Mapping) -> bool:
        return self.vector if self.vector is not None else options.get("shape") == "vector"


DATASETS: Catalog[DataSet] = Catalog("data set", "dataset.name")


def register(spec: DataSet) -> DataSet:
    return DATASETS.add(spec.name, spec)


def register_dataset(name: str, **spec) -> Callable:
    """Decorator: register the loader it decorates as data set `name` (`spec`: the other `DataSet` fields)."""
    def add(loader: Callable) -> Callable:
        register(DataSet(name, loader, **spec))
        return loader

    return add


def split_sizes(n: int, fractions) -> list[int]:
    """[rest, part_1, ...] of `n` samples carved by `fractions`; ConfigError (one line) if a split would be empty."""
    sizes = [round(n * f) for f in fractions]
    if n - sum(sizes) < 1 or min(sizes, default=1) < 1:
        raise ConfigError(f"splitting {n} samples by fractions {list(fractions)} leaves an empty split: "
                          f"use more samples or other dataset.val_fraction/test_fraction")
    return [n - sum(sizes), *sizes]


def _num_samples(options: Mapping) -> int:
    return options["num_samples"]


def _synthetic_memory(options: Mapping) -> tuple[str, float, str]:
    per_sample = options["channels"] * options["image_size"] ** 2 * (4 if options["shape"] == "vector" else 1)
    return "dataset.num_samples", options["num_samples"] * per_sample, f"the samples ({per_sample:,} bytes each)"


_SKLEARN, _TORCHVISION = "reslab.data.sklearn_sets:load", "reslab.data.torchvision_sets:load"
_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte")
_FETCH = "reslab.data.torchvision_sets:fetch"

for _spec in (
    DataSet("digits", _SKLEARN, side=8, args={"name": "digits"}, samples=1797),
    *(DataSet(n, _SKLEARN, vector=True, args={"name": n}, samples=size)
      for n, size in (("digits_flat", 1797), ("wine", 178), ("breast_cancer", 569))),
    DataSet("cifar10", _TORCHVISION, side=32, args={"name": "cifar10"}, fetch=_FETCH, samples=50_000, files=(
        "cifar-10-batches-py", (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"))),
    DataSet("cifar100", _TORCHVISION, side=32, args={"name": "cifar100"}, fetch=_FETCH, samples=50_000,
            files=("cifar-100-python", ("train", "test", "meta"))),
    *(DataSet(n, _TORCHVISION, side=28, args={"name": n}, fetch=_FETCH, samples=60_000, files=(sub, _MNIST_FILES),
              check=files.check_idx_files) for n, sub in (("mnist", "MNIST/raw"), ("fashion_mnist", "FashionMNIST/raw"))),
    DataSet("imagefolder", "reslab.data.image_folder:load", check=files.check_image_folder),
    DataSet("synthetic", "reslab.data.synthetic:load", vector=None, memory=_synthetic_memory, samples=_num_samples),
    DataSet("shapes", "reslab.data.shapes:load", task="detection", samples=_num_samples),
    DataSet("voc", "reslab.data.voc:load", task="detection",
            files=("VOCdevkit/VOC{year}", ("ImageSets/Main/train.txt", "ImageSets/Main/val.txt"))),
    DataSet("coco", "reslab.data.coco:load", task="detection",
            files=(".", ("annotations/instances_train{year}.json", "annotations/instances_val{year}.json"))),
):
    register(_spec)
