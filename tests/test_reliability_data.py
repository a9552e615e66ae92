"""Reliability of what a run reads and writes: data files an attacker or a broken disk could hand it (crafted or
corrupt CIFAR batches, truncated idx files and images, symlink loops) and checkpoints written through a kill or a
full disk. Every file here is tiny and in the real on-disk format."""
import errno
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from reslab import checkpoint_files
from reslab.checkpoint_files import AtomicCheckpointIO, newest_loadable
from reslab.run_files import atomic_write
from reslab.data import files, image_folder, safe_pickle
from reslab.config.dataset import check_dataset
from reslab.data.module import ReslabData
from reslab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf" / "dataset"


def options(name: str, **overrides) -> dict:
    return {**OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml")), **overrides}


def load(name: str, **overrides) -> ReslabData:
    dm = ReslabData(**options(name, **overrides), batch_size=4, seed=0)
    dm.setup("fit")
    return dm


def one_line_error(call, *words: str) -> str:
    with pytest.raises(ConfigError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message
    return message


def train_py(*overrides: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *overrides], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


# ---- CIFAR python batches -----------------------------------------------------------------------------------

class _Global:
    """A name a pickle calls, written as Python 2 wrote it (GLOBAL 'module\\nname')."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self):  # pickle checks that a reduce function is callable
        raise NotImplementedError


class Python2Pickler(pickle._Pickler):
    """CIFAR's own files were written by Python 2's cPickle, protocol 2: byte strings as BINSTRING, arrays through
    numpy.core.multiarray._reconstruct. This writes the same opcodes."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_str(self, obj: bytes):
        size = len(obj)
        self.write((pickle.SHORT_BINSTRING + bytes([size]) if size < 256 else pickle.BINSTRING
                    + struct.pack("<i", size)) + obj)
        self.memoize(obj)

    def _save_global(self, obj: _Global):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

    dispatch[bytes] = _save_str
    dispatch[_Global] = _save_global

    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray):
            return (_Global("numpy.core.multiarray", "_reconstruct"), (_Global("numpy", "ndarray"), (0,), b"b"),
                    (1, obj.shape, obj.dtype, False, obj.tobytes()))
        if isinstance(obj, np.dtype):
            return (_Global("numpy", "dtype"), (obj.str[1:].encode(), 0, 1),
                    (3, obj.str[0].encode(), None, None, None, -1, -1, 0))
        return NotImplemented


def python2_pickle(obj) -> bytes:
    import io

    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def images(n: int, offset: int) -> np.ndarray:
    return ((np.arange(n * 3072).reshape(n, 3072) + offset) % 251).astype(np.uint8)


def write_cifar10(root: Path, dumps=pickle.dumps, batch_1=None) -> Path:
    """A CIFAR-10 folder of 5 x 4 training images and 5 test images; `batch_1` replaces the first batch's dict."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        entry = {"data": images(4, i), "labels": [i, i, 0, 9], "batch_label": "training batch", "filenames": ["a"]}
        (folder / f"data_batch_{i}").write_bytes(dumps(batch_1 if i == 1 and batch_1 is not None else entry))
    (folder / "test_batch").write_bytes(dumps({"data": images(5, 0), "labels": [3] * 5}))
    (folder / "batches.meta").write_bytes(dumps({"label_names": [f"c{i}" for i in range(10)], "num_vis": 3072}))
    return folder / "data_batch_1"


@pytest.mark.parametrize("dumps", [python2_pickle, *(lambda o, p=p: pickle.dumps(o, protocol=p) for p in (2, 4, 5))],
                         ids=["python2", "protocol2", "protocol4", "protocol5"])
def test_cifar_batches_load_without_plain_pickle_in_every_format(tmp_path, dumps):
    write_cifar10(tmp_path, dumps)
    dm = load("cifar10", root=str(tmp_path))
    x, y = dm.splits.test.tensors
    assert x.dtype == torch.uint8 and torch.equal(x[0], torch.from_numpy(images(5, 0)[0].reshape(3, 32, 32)))
    assert y.tolist() == [3] * 5 and dm.info.class_names == [f"c{i}" for i in range(10)]
    assert len(dm.splits.train) + len(dm.splits.val) == 20


class Gadget:
    """What an attacker pickles: unpickling it calls `call(*args)`."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def test_crafted_cifar_batch_is_refused_by_train_py_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    batch = write_cifar10(tmp_path / "data", batch_1={"data": Gadget(os.system, f"touch {marker}"), "labels": [0]})
    out = train_py("dataset=cifar10", f"dataset.root={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        f"error: dataset cifar10: {batch} refused: it asks for os.system, not data"]
    assert not marker.exists()


@pytest.mark.parametrize("gadget, words", [
    (Gadget(eval, "open('MARKER', 'w')"), "refused: it asks for builtins.eval, not data"),
    (Gadget(subprocess.Popen, ["touch", "MARKER"]), "refused: it asks for subprocess.Popen, not data"),
    (Gadget(shutil.rmtree, "MARKER"), "refused: it asks for shutil.rmtree, not data"),
    (Gadget(np.load, "MARKER", None, True), "refused: it asks for numpy.load, not data"),
    # allowed names, abused: a 10 GB array, a bytes(n) allocation, a codec other than latin-1
    (Gadget(np.ndarray.__reduce__(np.zeros(1))[0], np.ndarray, (10**10,), b"b"), "an array rebuilt as ndarray"),
    (Gadget(bytes, 10**10), "bytes() with arguments"),
    (Gadget(__import__("codecs").encode, "abc", "rot13"), "_codecs.encode with 'rot13'"),
])
def test_crafted_batches_are_refused_in_one_line(tmp_path, gadget, words):
    gadget.args = tuple(str(tmp_path / "marker") if a == "MARKER" else a for a in gadget.args)
    batch = write_cifar10(tmp_path, batch_1={"data": gadget, "labels": [0]})
    one_line_error(lambda: load("cifar10", root=str(tmp_path)), f"dataset cifar10: {batch}", words)
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("breakage, words", [
    (lambda p: p.write_bytes(p.read_bytes()[:1000]), "is not a CIFAR python file (truncated file)"),
    (lambda p: p.write_bytes(b""), "(truncated file)"),
    (lambda p: p.write_bytes(b"\x00garbage" * 50), "is not a CIFAR python file (UnpicklingError"),
    (lambda p: p.write_bytes(pickle.dumps({"data": images(4, 0)})), "no 'labels' entry (it has 'data')"),
    (lambda p: p.write_bytes(pickle.dumps([1, 2])), "it holds a list, not a dict"),
    (lambda p: p.write_bytes(pickle.dumps({"data": images(4, 0)[:, :100], "labels": [0] * 4})),
     "'data' is a uint8 array of shape (4, 100), not N x 3072 uint8 values"),
    (lambda p: p.write_bytes(pickle.dumps({"data": images(4, 0), "labels": [0, 1, 2, 10]})),
     "'labels' is not 4 class numbers in 0-9"),
    (lambda p: p.write_bytes(pickle.dumps({"data": images(4, 0), "labels": [0, 1]})), "'labels' is not 4 class"),
])
def test_corrupt_cifar_batches_fail_in_one_line_before_training(tmp_path, breakage, words):
    batch = write_cifar10(tmp_path)
    breakage(batch)
    message = one_line_error(lambda: load("cifar10", root=str(tmp_path)), f"dataset cifar10: {batch} ", words)
    assert message.endswith("delete it and set dataset.download=true to fetch it again")


@pytest.mark.slow  # a subprocess importing torch each: the in-process test above covers the messages
@pytest.mark.parametrize("breakage, words", [
    (lambda p: p.write_bytes(p.read_bytes()[:1000]), "(truncated file)"),
    (lambda p: p.write_bytes(pickle.dumps({"data": images(4, 0)})), "(no 'labels' entry (it has 'data'))"),
])
def test_train_py_reports_a_corrupt_cifar_batch_in_one_line(tmp_path, breakage, words):
    batch = write_cifar10(tmp_path / "data")
    breakage(batch)
    out = train_py("dataset=cifar10", f"dataset.root={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()
    assert line.startswith(f"error: dataset cifar10: {batch} is not a CIFAR python file ") and words in line


def test_safe_pickle_reads_plain_data_and_names_what_it_refuses(tmp_path):
    path = tmp_path / "f"
    data = {"a": [1, 2.5, "x", b"\x00\xff", b""], "b": np.arange(6, dtype=np.int16).reshape(2, 3)}
    for dumps in (python2_pickle, *(lambda o, p=p: pickle.dumps(o, protocol=p) for p in range(2, 6))):
        path.write_bytes(dumps(data))
        back = safe_pickle.load(path)
        assert back["a"][:3] == [1, 2.5, "x"] and np.array_equal(back["b"], data["b"])
    path.write_bytes(pickle.dumps(Gadget(os.system, "true")))
    with pytest.raises(safe_pickle.Refused, match=r"^os\.system$"):
        safe_pickle.load(path)


# ---- MNIST idx files ----------------------------------------------------------------------------------------

def write_idx(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">i", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path) -> Path:
    raw = root / "MNIST" / "raw"
    pixels = np.random.default_rng(0).integers(0, 256, (20, 28, 28))
    write_idx(raw / "train-images-idx3-ubyte", pixels)
    write_idx(raw / "train-labels-idx1-ubyte", np.arange(20) % 10)
    write_idx(raw / "t10k-images-idx3-ubyte", pixels[:6])
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(6))
    return raw


@pytest.mark.parametrize("breakage, words", [
    (lambda raw: (raw / "train-images-idx3-ubyte").write_bytes((raw / "train-images-idx3-ubyte").read_bytes()[:5000]),
     "train-images-idx3-ubyte is truncated: 5000 bytes for 20 x 28 x 28 values (15696 bytes expected)"),
    (lambda raw: (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08"), "is not an idx file of 1-d uint8"),
    (lambda raw: write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(5)), "holds 6 images but t10k-labels"),
    (lambda raw: write_idx(raw / "train-labels-idx1-ubyte", np.arange(20)), "holds label 19, but the set has"),
    (lambda raw: write_idx(raw / "train-images-idx3-ubyte", np.zeros((20, 784))), "not an idx file of 3-d uint8"),
])
def test_broken_mnist_idx_files_fail_in_one_line_before_training(tmp_path, breakage, words):
    breakage(write_mnist(tmp_path))
    one_line_error(lambda: check_dataset(options("mnist", root=str(tmp_path))), "dataset mnist: ", words)
    one_line_error(lambda: load("mnist", root=str(tmp_path)), words)


def test_whole_mnist_idx_files_load(tmp_path):
    write_mnist(tmp_path)
    assert load("mnist", root=str(tmp_path)).splits.test.tensors[1].tolist() == list(range(6))


# ---- image folders ------------------------------------------------------------------------------------------

def write_pngs(folder: Path, count: int, colour: int, start: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        pixels = np.full((12, 20, 3), colour, np.uint8)
        pixels[0, i] = 255
        Image.fromarray(pixels).save(folder / f"{i}.png")


def two_classes(root: Path, per_class: int = 4) -> None:
    write_pngs(root / "train" / "cat", per_class, 10)
    write_pngs(root / "train" / "dog", per_class, 200)


def samples(root: Path, **overrides) -> int:
    dm = load("imagefolder", root=str(root), image_size=8, num_workers=0, **overrides)
    return len(dm.splits.train) + len(dm.splits.val) + len(dm.splits.test)


@pytest.mark.timeout(60)
def test_symlink_loops_end_and_no_image_is_counted_twice(tmp_path):
    two_classes(tmp_path)
    cat = tmp_path / "train" / "cat"
    (cat / "self").symlink_to(".")                # a loop inside the class
    (cat / "up").symlink_to("..")                 # a loop through the split folder (would add the dogs as cats)
    (cat / "sub").mkdir()
    (cat / "sub" / "back").symlink_to("../..")    # a loop two levels down
    (cat / "again").symlink_to("self")            # a second route into the same loop
    (cat / "copy.png").symlink_to("0.png")        # one image under two names
    (cat / "itself").symlink_to("itself")         # a link to itself (ELOOP)
    write_pngs(tmp_path / "elsewhere", 3, 90, start=10)
    (cat / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # a legitimate linked folder
    (cat / "more2").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # ... linked twice
    check_dataset(options("imagefolder", root=str(tmp_path)))
    classes, splits = files.image_folder_files(tmp_path)
    listed = [Path(p).relative_to(tmp_path / "train").as_posix() for p, _ in splits["train"]]
    assert listed == [f"cat/{i}.png" for i in range(4)] + [f"cat/more/{i}.png" for i in range(10, 13)] + \
        [f"dog/{i}.png" for i in range(4)]
    assert [c for _, c in splits["train"]] == [0] * 7 + [1] * 4
    assert samples(tmp_path) == 11


def test_one_image_in_two_classes_or_in_two_splits_is_refused(tmp_path):
    two_classes(tmp_path)
    (tmp_path / "train" / "dog" / "cat0.png").symlink_to(tmp_path / "train" / "cat" / "0.png")
    one_line_error(lambda: check_dataset(options("imagefolder", root=str(tmp_path))),
                   "dog/cat0.png is the same file as", "cat/0.png (a link): one image cannot belong to two classes")
    (tmp_path / "train" / "dog" / "cat0.png").unlink()
    write_pngs(tmp_path / "shared", 1, 90)
    for cls in ("cat", "dog"):
        (tmp_path / "train" / cls / "shared").symlink_to(tmp_path / "shared", target_is_directory=True)
    one_line_error(lambda: check_dataset(options("imagefolder", root=str(tmp_path))),
                   "dog/shared/0.png is the same file as", "cat/shared/0.png (a link): one image cannot belong")
    (tmp_path / "train" / "dog" / "shared").unlink()
    write_pngs(tmp_path / "val" / "cat", 1, 10, start=7)
    (tmp_path / "val" / "dog").symlink_to(tmp_path / "train" / "dog", target_is_directory=True)
    one_line_error(lambda: check_dataset(options("imagefolder", root=str(tmp_path))),
                   "val/dog/0.png is the same file as", "test data leaking into training")


def test_listing_matches_torchvision_image_folder_on_a_plain_folder(tmp_path):
    from torchvision.datasets import ImageFolder

    for cls, colour in [("b", 10), ("a", 90), ("c", 200)]:
        write_pngs(tmp_path / "train" / cls, 3, colour)
        write_pngs(tmp_path / "train" / cls / "deeper", 2, colour, start=5)
    classes, splits = files.image_folder_files(tmp_path)
    reference = ImageFolder(tmp_path / "train")
    assert classes == reference.classes and splits["train"] == [(str(Path(p)), c) for p, c in reference.samples]


def truncated_jpeg(path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])


def test_a_truncated_jpeg_fails_before_training_in_one_line(tmp_path):
    two_classes(tmp_path)
    bad = tmp_path / "train" / "dog" / "9.jpg"
    truncated_jpeg(bad)
    with Image.open(bad) as image:  # the header reads: a header-only check would let it through
        assert image.size == (64, 64)
    one_line_error(lambda: check_dataset(options("imagefolder", root=str(tmp_path))),
                   f"dataset imagefolder: {bad} is not a readable image (image file is truncated")


@pytest.mark.parametrize("workers", [0, 1])
def test_a_large_folder_stops_training_cleanly_at_its_first_bad_image(tmp_path, monkeypatch, workers):
    monkeypatch.setattr(files, "FULL_CHECK_LIMIT", 0)  # as if the folder were too large to decode before training
    two_classes(tmp_path)
    bad = tmp_path / "train" / "dog" / "9.jpg"
    truncated_jpeg(bad)
    check_dataset(options("imagefolder", root=str(tmp_path)))  # headers only: it passes
    train = image_folder.load(str(tmp_path), image_size=8, val_fraction=0.1, test_fraction=0.1, split_seed=0).train
    message = one_line_error(lambda: list(DataLoader(train.dataset, batch_size=4, num_workers=workers)),
                             f"dataset imagefolder: {bad} is not a readable image (image file is truncated")
    assert message.endswith("remove or replace it")


# ---- checkpoints ----------------------------------------------------------------------------------------------

class Tiny(L.LightningModule):
    def __init__(self, width: int = 4):
        super().__init__()
        self.layer = torch.nn.Linear(width, 2)

    def training_step(self, batch, _):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.layer(x), y)

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val/acc", (self.layer(x).argmax(1) == y).float().mean() + self.current_epoch)  # always improves

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        width = self.layer.in_features
        return DataLoader(TensorDataset(torch.randn(16, width, generator=g), torch.randint(0, 2, (16,), generator=g)),
                          batch_size=8)

    val_dataloader = train_dataloader


def fit(folder: Path, epochs: int, ckpt_path=None, module=None) -> L.Trainer:
    from lightning.pytorch.callbacks import ModelCheckpoint

    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", plugins=[AtomicCheckpointIO()], logger=False,
                        default_root_dir=folder, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0,
                        callbacks=[ModelCheckpoint(dirpath=folder / "checkpoints", filename="best", monitor="val/acc",
                                                   mode="max", save_last=True)])
    trainer.fit(module or Tiny(), ckpt_path=ckpt_path, weights_only=True)
    return trainer


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


def test_atomic_checkpoint_io_writes_every_checkpoint_of_a_real_fit(tmp_path, monkeypatch):
    written = []
    monkeypatch.setattr(checkpoint_files, "atomic_write", lambda path, write: (written.append(path.name),
                                                                               atomic_write(path, write)))
    trainer = fit(tmp_path, epochs=2)
    assert written == ["best.ckpt", "last.ckpt"] * 2 and temp_files(tmp_path) == []
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 1 and last["global_step"] == trainer.global_step == 4
    fit(tmp_path, epochs=3, ckpt_path=tmp_path / "checkpoints" / "last.ckpt")  # resumes from it
    # a killed write left a truncated last.ckpt: the resume path takes the valid best.ckpt and says why
    last_path = tmp_path / "checkpoints" / "last.ckpt"
    last_path.write_bytes(last_path.read_bytes()[:3000])
    assert newest_loadable(tmp_path) == (tmp_path / "checkpoints" / "best.ckpt",
                                         ["skipped checkpoints/last.ckpt: truncated file"])


def test_atomic_checkpoint_io_is_a_trainer_plugin_from_config_and_keeps_imports_light():
    from hydra.utils import instantiate
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    plugin = instantiate({"_target_": "reslab.checkpoint_files.AtomicCheckpointIO"})
    assert isinstance(plugin, TorchCheckpointIO) and pickle.loads(pickle.dumps(plugin)).__class__ is AtomicCheckpointIO
    code = ("import sys, reslab.entry, reslab.config, reslab.run_files, reslab.config.dataset, reslab.data.files; "
            "print([m for m in ('torch', 'lightning', 'torchvision') if m in sys.modules])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs: a real filesystem that runs out of space (needs root to mount)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root; test_a_write_failing_part_way... covers it without")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_full_disk_keeps_the_previous_checkpoints_loadable(small_disk):
    fit(small_disk, epochs=1, module=Tiny(2048))  # checkpoints of ~20 kB
    before = {p.name: p.read_bytes() for p in (small_disk / "checkpoints").glob("*.ckpt")}
    filler = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError) as full:  # fill the disk, then free 8 kB: less than a checkpoint
        while True:
            os.write(filler, b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    os.ftruncate(filler, os.lseek(filler, 0, os.SEEK_CUR) - 8192)
    os.close(filler)
    with pytest.raises(OSError) as err:
        fit(small_disk, epochs=2, ckpt_path=small_disk / "checkpoints" / "last.ckpt", module=Tiny(2048))
    assert err.value.errno == errno.ENOSPC
    assert {p.name: p.read_bytes() for p in (small_disk / "checkpoints").glob("*.ckpt")} == before
    assert temp_files(small_disk) == [] and torch.load(small_disk / "checkpoints" / "last.ckpt",
                                                       weights_only=True)["epoch"] == 0
    (small_disk / "filler").unlink()
    assert newest_loadable(small_disk) == (small_disk / "checkpoints" / "last.ckpt", [])


WRITER = """import resource, signal, sys, torch
from reslab.checkpoint_files import AtomicCheckpointIO
# Python ignores SIGXFSZ, so a write past the limit fails (EFBIG); with the default action the kernel kills the writer
signal.signal(signal.SIGXFSZ, signal.SIG_IGN if sys.argv[2] == "fail" else signal.SIG_DFL)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))  # no file beyond 100 kB
AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(200_000), "global_step": 2}, sys.argv[1])
"""


@pytest.mark.parametrize("how", ["fail", "kill"])
def test_a_write_failing_or_killed_part_way_keeps_the_previous_checkpoint(tmp_path, how):
    path = tmp_path / "checkpoints" / "last.ckpt"
    atomic_write(path, lambda f: torch.save({"state_dict": {"w": torch.ones(3)}, "global_step": 1, "epoch": 0}, f))
    before = path.read_bytes()
    out = subprocess.run([sys.executable, "-c", WRITER, str(path), how], capture_output=True, text=True, cwd=ROOT)
    if how == "fail":
        assert out.returncode == 1 and temp_files(tmp_path) == []
        assert out.stderr.strip().splitlines()[-1] == "OSError: [Errno 27] File too large"
    else:  # killed by the kernel mid-write: its temp file stays until the next write of last.ckpt
        assert out.returncode == -signal.SIGXFSZ and len(temp_files(tmp_path)) == 1
    assert path.read_bytes() == before and newest_loadable(tmp_path) == (path, [])
    atomic_write(path, lambda f: f.write(before))
    assert temp_files(tmp_path) == []


def save(path: Path, step: int, epoch: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"w": torch.zeros(2)}, "global_step": step, "epoch": epoch}, path)


def test_newest_loadable_goes_by_the_step_inside_and_names_each_broken_file(tmp_path):
    folder = tmp_path / "checkpoints"
    save(folder / "last.ckpt", 20, 1)
    save(folder / "best.ckpt", 10, 0)
    os.utime(folder / "last.ckpt", (1, 1))  # older on disk, newer inside
    assert newest_loadable(tmp_path) == (folder / "last.ckpt", [])
    save(folder / "epoch=3.ckpt", 40, 3)
    (folder / "last.ckpt").write_bytes((folder / "last.ckpt").read_bytes()[:-30])
    (folder / "empty.ckpt").touch()
    (folder / "evil.ckpt").write_bytes(pickle.dumps(Gadget(os.system, "true")))
    torch.save({"weights": torch.zeros(1)}, folder / "bare.ckpt")
    path, skipped = newest_loadable(tmp_path)
    assert path == folder / "epoch=3.ckpt"
    assert skipped[:2] == ["skipped checkpoints/bare.ckpt: not a Lightning checkpoint (no state_dict, global_step "
                           "or epoch)", "skipped checkpoints/empty.ckpt: empty file"]
    assert skipped[2].startswith("skipped checkpoints/evil.ckpt: not loadable with weights_only=True (")
    assert skipped[3:] == ["skipped checkpoints/last.ckpt: truncated file"] and all("\n" not in s for s in skipped)
    for name in ("epoch=3.ckpt", "best.ckpt"):
        (folder / name).unlink()
    assert newest_loadable(tmp_path) == (None, skipped)
    assert newest_loadable(tmp_path / "nowhere") == (None, [])
