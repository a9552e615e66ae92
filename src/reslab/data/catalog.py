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


def _synthetic_memory(options: Mapping) -> tuple[str, float, str]:
    per_sample = options["channels"] * options["image_size"] ** 2 * (4 if options["shape"] == "vector" else 1)
    return "dataset.num_samples", options["num_samples"] * per_sample, f"the samples ({per_sample:,} bytes each)"


_SKLEARN, _TORCHVISION = "reslab.data.sklearn_sets:load", "reslab.data.torchvision_sets:load"
_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte")
_FETCH = "reslab.data.torchvision_sets:fetch"

for _spec in (
    DataSet("digits", _SKLEARN, side=8, args={"name": "digits"}),
    *(DataSet(n, _SKLEARN, vector=True, args={"name": n}) for n in ("digits_flat", "wine", "breast_cancer")),
    DataSet("cifar10", _TORCHVISION, side=32, args={"name": "cifar10"}, fetch=_FETCH, files=(
        "cifar-10-batches-py", (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"))),
    DataSet("cifar100", _TORCHVISION, side=32, args={"name": "cifar100"}, fetch=_FETCH,
            files=("cifar-100-python", ("train", "test", "meta"))),
    DataSet("mnist", _TORCHVISION, side=28, args={"name": "mnist"}, fetch=_FETCH, files=("MNIST/raw", _MNIST_FILES),
            check=files.check_idx_files),
    DataSet("fashion_mnist", _TORCHVISION, side=28, args={"name": "fashion_mnist"}, fetch=_FETCH,
            files=("FashionMNIST/raw", _MNIST_FILES), check=files.check_idx_files),
    DataSet("imagefolder", "reslab.data.image_folder:load", check=files.check_image_folder),
    DataSet("synthetic", "reslab.data.synthetic:load", vector=None, memory=_synthetic_memory),
    DataSet("shapes", "reslab.data.shapes:load", task="detection"),
    DataSet("voc", "reslab.data.voc:load", task="detection",
            files=("VOCdevkit/VOC{year}", ("ImageSets/Main/train.txt", "ImageSets/Main/val.txt"))),
    DataSet("coco", "reslab.data.coco:load", task="detection",
            files=(".", ("annotations/instances_train{year}.json", "annotations/instances_val{year}.json"))),
):
    register(_spec)
