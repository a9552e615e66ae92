"""Data sets against tiny files in their real on-disk formats, the fail-fast checks, on-device augmentation,
and the fast path against the DataLoader path."""
import pickle
import struct
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from reslab.data.augment import channel_stats, crop_flip, normalize
from reslab.data.batches import TensorBatches, epoch_order, mix_seed
from reslab.config import validate
from reslab.config.dataset import check_dataset
from reslab.data.catalog import DATASETS
from reslab.data.module import ReslabData
from reslab.errors import ConfigError

CONF = Path(__file__).resolve().parents[1] / "conf" / "dataset"


def options(name: str, **overrides) -> dict:
    """The options of conf/dataset/<name>.yaml, as the lead's train.py passes them, with overrides."""
    return {**OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml")), **overrides}


def data(name: str, batch_size: int = 32, seed: int = 0, **overrides) -> ReslabData:
    dm = ReslabData(**options(name, **overrides), batch_size=batch_size, seed=seed)
    dm.setup("fit")
    return dm


def sizes(dm: ReslabData) -> list[int]:
    return [len(dm.splits.train), len(dm.splits.val), len(dm.splits.test)]


def batches(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in loader]


# ---- config group and checks -------------------------------------------------------------------------------

def test_every_yaml_is_a_data_set_of_the_catalog():
    names = sorted(p.stem for p in CONF.glob("*.yaml"))
    assert names == sorted(DATASETS)
    assert all(options(name)["name"] == name for name in names)


@pytest.mark.parametrize("overrides, words", [
    (["dataset.name=cifar11"], ["cifar11", "cifar10", "synthetic"]),
    (["dataset.val_fraction=1.5"], ["dataset.val_fraction=1.5", "(0, 1)"]),
    (["dataset.val_fraction=0.5", "dataset.test_fraction=0.5"], ["no training data"]),
    (["dataset=synthetic", "dataset.shape=cube"], ["dataset.shape='cube'", "image, vector"]),
    (["dataset=synthetic", "dataset.noise=nan"], ["dataset.noise=nan", "finite"]),
])
def test_bad_options_fail_in_one_line(make_cfg, overrides, words):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg(*overrides))
    assert "\n" not in str(err.value) and all(w in str(err.value) for w in words)


def test_missing_files_name_the_folder_and_the_fix(tmp_path):
    for name, sub in [("cifar10", "cifar-10-batches-py"), ("mnist", "MNIST/raw")]:
        with pytest.raises(ConfigError) as err:
            check_dataset(options(name, root=str(tmp_path)))
        message = str(err.value)
        assert "\n" not in message and str(tmp_path / sub) in message and "dataset.download=true" in message
    check_dataset(options("cifar10", root=str(tmp_path), download=True))  # the download will bring them


def write_pngs(folder: Path, count: int, colour: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = np.full((12, 20, 3), colour, np.uint8)
        pixels[0, i] = 255  # no two images alike
        Image.fromarray(pixels).save(folder / f"{i}.png")


def break_folder(root: Path, case: str) -> None:
    """An image folder broken one way: `case` is a phrase its error must contain."""
    if case == "no train/ folder":
        return
    write_pngs(root / "train" / "cat", 2, 10)
    if case == "1 class folder":
        return
    (root / "train" / "dog").mkdir()
    if case == "has no image files":
        (root / "train" / "dog" / "notes.txt").write_text("x")
    elif case == "not a readable image":
        (root / "train" / "dog" / "a.png").write_bytes(b"not a png")
    else:
        write_pngs(root / "train" / "dog", 2, 90)
        write_pngs(root / "val" / "cat", 2, 10)


@pytest.mark.parametrize("case", ["no train/ folder", "1 class folder", "has no image files",
                                  "not a readable image", "differ"])
def test_bad_image_folders_fail_in_one_line(tmp_path, case):
    break_folder(tmp_path, case)
    with pytest.raises(ConfigError) as err:
        check_dataset(options("imagefolder", root=str(tmp_path)))
    assert "\n" not in str(err.value) and case in str(err.value)


# ---- each set from its real on-disk format ------------------------------------------------------------------

def dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj))


def cifar_images(n: int, offset: int) -> np.ndarray:
    return ((np.arange(n * 3072).reshape(n, 3072) + offset) % 251).astype(np.uint8)


def test_cifar10_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    for i in range(1, 6):
        dump(folder / f"data_batch_{i}", {"data": cifar_images(4, i), "labels": [i, i, 0, 9]})
    dump(folder / "test_batch", {"data": cifar_images(5, 0), "labels": [3] * 5})
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    dump(folder / "batches.meta", {"label_names": names})
    dm = data("cifar10", root=str(tmp_path))
    assert sizes(dm) == [18, 2, 5] and dm.info.input_shape == (3, 32, 32) and dm.info.num_classes == 10
    assert dm.info.class_names == names and dm.info.kind == "image"
    x, y = dm.splits.test.tensors
    assert x.dtype == torch.uint8 and y.dtype == torch.int64
    assert torch.equal(x[0], torch.from_numpy(cifar_images(5, 0)[0].reshape(3, 32, 32)))  # channel-major rows


def test_cifar100_python_files(tmp_path):
    folder = tmp_path / "cifar-100-python"
    dump(folder / "train", {"data": cifar_images(10, 1), "fine_labels": list(range(90, 100)), "coarse_labels": [0] * 10})
    dump(folder / "test", {"data": cifar_images(3, 2), "fine_labels": [0, 1, 99], "coarse_labels": [0] * 3})
    dump(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": ["a"] * 20})
    dm = data("cifar100", root=str(tmp_path), val_fraction=0.2)
    assert sizes(dm) == [8, 2, 3] and dm.info.num_classes == 100
    assert dm.splits.test.tensors[1].tolist() == [0, 1, 99]


def write_idx(path: Path, array: np.ndarray) -> None:
    """The idx format: magic (0, 0, 0x08 = uint8, ndim), big-endian int32 dims, raw bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">i", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("name, sub", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_idx_files(tmp_path, name, sub):
    raw = tmp_path / sub / "raw"
    train_images = np.random.default_rng(0).integers(0, 256, (20, 28, 28))
    write_idx(raw / "train-images-idx3-ubyte", train_images)
    write_idx(raw / "train-labels-idx1-ubyte", np.arange(20) % 10)
    write_idx(raw / "t10k-images-idx3-ubyte", train_images[:6])
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(6))
    dm = data(name, root=str(tmp_path))
    assert sizes(dm) == [18, 2, 6] and dm.info.input_shape == (1, 28, 28) and dm.info.num_classes == 10
    x, y = dm.splits.test.tensors
    assert x.dtype == torch.uint8 and torch.equal(x[:, 0], torch.from_numpy(train_images[:6]).to(torch.uint8))
    assert y.tolist() == list(range(6))


def test_image_folder_of_pngs(tmp_path):
    for cls, colour in [("cat", 10), ("dog", 120), ("eel", 240)]:
        write_pngs(tmp_path / "train" / cls, 10, colour)
        write_pngs(tmp_path / "val" / cls, 2, colour)
    dm = data("imagefolder", batch_size=8, root=str(tmp_path), image_size=8, num_workers=0)
    assert sizes(dm) == [27, 6, 3]  # val/ given, test carved from train
    assert dm.info == type(dm.info)((3, 8, 8), 3, "image", ["cat", "dog", "eel"])
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (6, 3, 8, 8) and x.dtype == torch.uint8 and y.tolist() == [0, 0, 1, 1, 2, 2]
    assert x[0, :, 4, 4].tolist() == [10, 10, 10] and x[-1, :, 4, 4].tolist() == [240, 240, 240]
    assert len(dm.train_dataloader()) == 27 // 8


def test_digits_are_the_real_1797_images_split_by_the_split_seed_only():
    dm = data("digits", seed=0)
    assert sum(sizes(dm)) == 1797 and sizes(dm) == [1258, 180, 359]
    x = dm.splits.train.tensors[0]
    assert x.dtype == torch.uint8 and x.shape[1:] == (1, 8, 8) and x.max() == 255 and x.min() == 0
    assert dm.info.num_classes == 10 and dm.info.kind == "image"
    other_seed = data("digits", seed=7)
    assert torch.equal(dm.splits.test.tensors[0], other_seed.splits.test.tensors[0])
    other_split = data("digits", split_seed=1)
    assert not torch.equal(dm.splits.test.tensors[0], other_split.splits.test.tensors[0])


@pytest.mark.parametrize("name, features, classes", [("digits_flat", 64, 10), ("wine", 13, 3),
                                                      ("breast_cancer", 30, 2)])
def test_vector_sets_are_standardised_on_the_training_split(name, features, classes):
    dm = data(name)
    x = dm.splits.train.tensors[0]
    assert dm.info.kind == "vector" and dm.info.input_shape == (features,) and dm.info.num_classes == classes
    assert x.dtype == torch.float32 and x.mean(0).abs().max() < 1e-5
    assert ((x.std(0) - 1).abs() < 1e-4).logical_or(x.std(0) == 0).all()
    x, y = next(iter(dm.train_dataloader()))
    assert dm.on_after_batch_transfer((x, y), 0)[0] is x


def test_synthetic_data_are_learnable_and_shaped_as_asked():
    dm = data("synthetic", image_size=12, channels=2, num_classes=4, num_samples=400)
    assert sizes(dm) == [320, 40, 40] and dm.info.input_shape == (2, 12, 12) and dm.info.num_classes == 4
    (x, y), (vx, vy) = dm.splits.train.tensors, dm.splits.val.tensors
    centroids = torch.stack([x[y == c].float().mean(0) for c in range(4)])
    nearest = torch.cdist(vx.float().flatten(1), centroids.flatten(1)).argmin(1)
    assert (nearest == vy).float().mean() > 0.9  # class patterns, not noise
    vectors = data("synthetic", shape="vector", image_size=12, channels=2, num_classes=4, num_samples=400)
    assert vectors.info.input_shape == (288,) and vectors.info.kind == "vector"


# ---- on-device augmentation ---------------------------------------------------------------------------------

def test_crop_flip_is_a_zero_filled_shifted_window_maybe_mirrored():
    image = torch.arange(1, 65, dtype=torch.uint8).view(1, 1, 8, 8)
    n, pad = 600, 2
    out = crop_flip(image.expand(n, 3, 8, 8), pad, torch.Generator().manual_seed(0))
    assert out.shape == (n, 3, 8, 8) and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(image[0, 0], (pad,) * 4)
    windows = {(dy, dx, flip): (padded[dy:dy + 8, dx:dx + 8].flip(1) if flip else padded[dy:dy + 8, dx:dx + 8])
               for dy in range(2 * pad + 1) for dx in range(2 * pad + 1) for flip in (False, True)}
    seen = set()
    for sample in out:
        assert torch.equal(sample[0], sample[2])  # one window for all channels
        match = [key for key, window in windows.items() if torch.equal(sample[0], window)]
        assert len(match) == 1
        seen.add(match[0])
    assert seen == set(windows)  # every offset and both flips occur
    assert torch.equal(crop_flip(image, 0, torch.Generator()).view(-1).sort().values, image.view(-1))


def test_crop_flip_follows_its_generator_only():
    images = torch.randint(0, 256, (16, 3, 10, 10), dtype=torch.uint8)
    first = crop_flip(images, 4, torch.Generator().manual_seed(3))
    assert torch.equal(first, crop_flip(images, 4, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, crop_flip(images, 4, torch.Generator().manual_seed(4)))


def test_normalize_uses_the_exact_channel_statistics():
    images = torch.randint(0, 256, (50, 3, 6, 6), dtype=torch.uint8)
    images[:, 1] //= 4
    mean, std = channel_stats(images)
    expected = images.double().div(255)
    assert torch.allclose(mean.double(), expected.mean((0, 2, 3)), atol=1e-6)
    out = normalize(images, mean, std)
    assert out.dtype == torch.float32
    assert torch.allclose(out.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)


# ---- batching -----------------------------------------------------------------------------------------------

def test_epoch_order_depends_on_seed_and_epoch_and_shards_equally():
    assert torch.equal(epoch_order(50, 1, 2), epoch_order(50, 1, 2))
    assert not torch.equal(epoch_order(50, 1, 2), epoch_order(50, 1, 3))
    assert not torch.equal(epoch_order(50, 1, 0), epoch_order(50, 0, 1))  # unlike seed + epoch
    shards = [epoch_order(10, 0, 0, rank, 3) for rank in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4] and set(torch.cat(shards).tolist()) == set(range(10))


def test_fast_path_and_dataloader_path_give_the_same_batches():
    fast, loader = data("digits", batch_size=100), data("digits", batch_size=100, in_memory=False)
    assert isinstance(fast.train_dataloader(), TensorBatches)
    assert isinstance(loader.train_dataloader(), torch.utils.data.DataLoader)
    for make in ("train_dataloader", "val_dataloader", "test_dataloader"):
        a, b = batches(getattr(fast, make)()), batches(getattr(loader, make)())
        assert len(a) == len(b) == len(getattr(fast, make)())
        assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    val = batches(fast.val_dataloader())
    assert torch.equal(torch.cat([x for x, _ in val]), fast.splits.val.tensors[0])  # never shuffled


class Recorder(L.LightningModule):
    """A linear model that records every batch it sees."""

    def __init__(self, features: int):
        super().__init__()
        self.layer = torch.nn.Linear(features, 10)
        self.seen = {"train": [], "val": []}

    def step(self, batch, stage):
        x, y = batch
        self.seen[stage].append((self.current_epoch, x.clone(), y.clone()))
        return torch.nn.functional.cross_entropy(self.layer(x.flatten(1)), y)

    def training_step(self, batch, _):
        return self.step(batch, "train")

    def validation_step(self, batch, _):
        self.step(batch, "val")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit(dm: ReslabData) -> Recorder:
    module = Recorder(64)
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_train_batches=3,
                        limit_val_batches=2, num_sanity_val_steps=0)
    trainer.fit(module, datamodule=dm)
    return module


def test_training_batches_are_augmented_per_epoch_deterministically_on_both_paths():
    runs = [fit(ReslabData(**options("digits", augment=True, in_memory=flag), batch_size=64, seed=3))
            for flag in (True, False)]
    fast, loader = (run.seen for run in runs)
    for stage in ("train", "val"):
        assert len(fast[stage]) == len(loader[stage]) > 0
        assert all(ea == eb and torch.equal(xa, xb) and torch.equal(ya, yb)
                   for (ea, xa, ya), (eb, xb, yb) in zip(fast[stage], loader[stage]))
    epoch0, epoch1 = fast["train"][0], fast["train"][3]
    assert (epoch0[0], epoch1[0]) == (0, 1) and not torch.equal(epoch0[2], epoch1[2])  # reshuffled
    x = epoch0[1]
    assert x.dtype == torch.float32 and x.shape == (64, 1, 8, 8)
    dm = ReslabData(**options("digits"), batch_size=64, seed=3)
    dm.setup()
    raw = dm.splits.train.tensors[0][epoch_order(len(dm.splits.train), 3, 0)[:64]]
    augmented = crop_flip(raw, 4, torch.Generator().manual_seed(mix_seed(3, 0, 0)))  # (seed, epoch, rank)
    assert torch.equal(x, normalize(augmented, dm._mean, dm._std))
    raw = dm.splits.val.tensors[0][:64]
    assert torch.equal(fast["val"][0][1], normalize(raw, dm._mean, dm._std))  # validation: not augmented
