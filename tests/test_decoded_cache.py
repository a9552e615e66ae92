"""Image folders decoded once: the cache is used when the folder is unchanged, decoded again when it changed or the
cache is damaged or crafted, and a run on the cached tensors equals a run through the DataLoader."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from torch.utils.data import TensorDataset

from reslab.data import decoded_cache, image_folder
from reslab.data.module import ReslabData

CONF = Path(__file__).resolve().parents[1] / "conf" / "dataset"
JOB = ("depth=8", "epochs=1", "logger=none", "trainer.accelerator=cpu", "diagnostics=off", "cpu.threads=1",
       "batch_size=16", "dataset=imagefolder", "dataset.image_size=8")


def write_folder(root: Path, per_class: int = 12) -> None:
    for index, cls in enumerate(("cat", "dog")):
        folder = root / "train" / cls
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.full((12, 10, 3), 40 + 150 * index, np.uint8)
            pixels[i % 12, :, 0] = 255
            Image.fromarray(pixels).save(folder / f"{i}.png")


def data(root: Path, cache: Path, **overrides) -> ReslabData:
    options = {**OmegaConf.to_container(OmegaConf.load(CONF / "imagefolder.yaml")), "root": str(root),
               "image_size": 8, "num_workers": 0, "cache_dir": str(cache), **overrides}
    dm = ReslabData(**options, batch_size=4, seed=0)
    dm.setup("fit")
    return dm


def tensors(dm: ReslabData) -> list[torch.Tensor]:
    return [t for split in (dm.splits.train, dm.splits.val, dm.splits.test) for t in split.tensors]


def no_decoding(monkeypatch):
    def refuse(self, index):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(image_folder.ImageFiles, "__getitem__", refuse)


def test_a_folder_is_decoded_once_and_again_when_it_changes(tmp_path, monkeypatch):
    root, cache = tmp_path / "images", tmp_path / "cache"
    write_folder(root)
    first = data(root, cache)
    assert isinstance(first.splits.train, TensorDataset) and first.in_memory
    [entry] = list(cache.iterdir())
    assert sorted(p.name for p in entry.iterdir()) == ["manifest.json", "train.images.npy", "train.labels.npy"]
    with monkeypatch.context() as patch:
        no_decoding(patch)
        second = data(root, cache)  # from the cache: no image decoded
    assert all(torch.equal(a, b) for a, b in zip(tensors(first), tensors(second)))

    # The pixels are those the DataLoader path decodes (decoded_max_mb=0: files decoded on access).
    loader = data(root, cache, decoded_max_mb=0)
    assert not isinstance(loader.splits.train, TensorDataset)
    assert torch.equal(torch.stack([loader.splits.train[i][0] for i in range(len(loader.splits.train))]),
                       first.splits.train.tensors[0])

    # A rewritten image (same name and size, new pixels and mtime) is decoded again, as is a new file.
    changed = root / "train" / "cat" / "3.png"
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(changed)
    os.utime(changed, ns=(os.stat(changed).st_atime_ns, os.stat(changed).st_mtime_ns + 10**9))
    third = data(root, cache)
    assert not all(torch.equal(a, b) for a, b in zip(tensors(first), tensors(third)))
    on_access = data(root, cache, decoded_max_mb=0).splits.train
    assert torch.equal(third.splits.train.tensors[0], torch.stack([on_access[i][0] for i in range(len(on_access))]))
    write_folder(root, per_class=13)
    assert sum(len(t) for t in tensors(data(root, cache))[::2]) == 26
    assert len(list(cache.iterdir())) == 1  # one entry per folder and size, replaced


@pytest.mark.parametrize("damage", ["truncated", "crafted pixels", "object array", "manifest"])
def test_a_damaged_or_crafted_cache_is_never_trusted(tmp_path, damage, caplog):
    root, cache = tmp_path / "images", tmp_path / "cache"
    write_folder(root)
    good = tensors(data(root, cache))
    [entry] = list(cache.iterdir())
    images = entry / "train.images.npy"
    if damage == "truncated":
        images.write_bytes(images.read_bytes()[:200])
    elif damage == "crafted pixels":  # a valid array of the right shape and dtype: only the digest tells
        np.save(images, np.zeros_like(np.load(images)))
    elif damage == "object array":  # a pickled payload: np.load(allow_pickle=False) refuses it
        np.save(images, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    else:
        manifest = json.loads((entry / "manifest.json").read_text())
        manifest["files"][0][2] = 1 - manifest["files"][0][2]  # a label flipped: not this folder
        (entry / "manifest.json").write_text(json.dumps(manifest))
    rebuilt = tensors(data(root, cache))
    assert all(torch.equal(a, b) for a, b in zip(good, rebuilt))
    if damage != "manifest":
        assert "decoding the folder again" in caplog.text
    assert all(torch.equal(a, b) for a, b in zip(good, tensors(data(root, cache))))  # the entry was rewritten


def test_an_unwritable_cache_still_trains_on_the_decoded_tensors(tmp_path, caplog):
    root, blocker = tmp_path / "images", tmp_path / "file"
    write_folder(root)
    blocker.write_text("")
    dm = data(root, blocker / "cache")
    assert isinstance(dm.splits.train, TensorDataset) and "not written" in caplog.text


def test_a_run_on_the_decoded_folder_equals_the_dataloader_run(make_cfg, tmp_path):
    from reslab.run import run

    root = tmp_path / "images"
    write_folder(root, per_class=24)
    common = (*JOB, f"dataset.root={root}", f"dataset.cache_dir={tmp_path / 'cache'}")
    cached = run(make_cfg(*common), tmp_path / "cached", threads=1)
    loader = run(make_cfg(*common, "dataset.decoded_max_mb=0", "dataset.num_workers=0"), tmp_path / "loader",
                 threads=1)
    keep = lambda m: {k: v for k, v in m.items() if k not in ("wall_time_s", "throughput", "peak_mem_mb")}  # noqa
    assert keep(cached) == keep(loader)
    assert decoded_cache.decoded_mb({"train": [0] * 1024}, 32) == 3.0
