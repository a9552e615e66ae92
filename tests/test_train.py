"""End-to-end runs: real compose, real Lightning fit on tiny data, real files on disk."""
import json
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT
from reslab.train import run

FAST = ("epochs=1", "logger=none", "trainer.accelerator=cpu")
SYNTHETIC = ("dataset=synthetic", "dataset.num_samples=256", "dataset.image_size=8")


@pytest.mark.parametrize("model", ["plain", "weighted", "csp", "noshortcut"])
@pytest.mark.parametrize("data", [("dataset=digits",), SYNTHETIC], ids=["digits", "synthetic"])
def test_every_block_type_trains_an_epoch(make_cfg, tmp_path, model, data):
    cfg = make_cfg(f"model={model}", "depth=8", *data, *FAST)
    metrics = run(cfg, tmp_path)
    assert metrics["status"] == "ok"
    assert metrics["epochs"] == 1
    assert 0.0 <= metrics["test/acc"] <= 1.0
    assert json.loads((tmp_path / "metrics.json").read_text())["test/acc"] == metrics["test/acc"]


def test_csp_depth18_composes_and_fits(make_cfg, tmp_path):
    cfg = make_cfg("model=csp", "depth=18", "width=8", *FAST)
    assert cfg.model.block == "csp" and cfg.depth == 18
    assert run(cfg, tmp_path)["status"] == "ok"


def test_run_folder_holds_tensorboard_curves_checkpoints_and_metrics(make_cfg, tmp_path):
    cfg = make_cfg("depth=8", "epochs=2", "trainer.accelerator=cpu")
    metrics = run(cfg, tmp_path)
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "val/acc", "val/loss", "train/loss_epoch"} <= tags
    assert len(events.Scalars("val/acc")) == 2
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["epochs"] == 2 and len(saved["history"]) == 2
    assert saved["params"] == metrics["params"] > 0
    assert saved["history"][-1]["train/loss"] < saved["history"][0]["train/loss"]


def test_train_py_runs_as_a_user_would(tmp_path):
    out = subprocess.run(
        [sys.executable, "train.py", "depth=8", "epochs=1", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "test/acc=" in out.stdout
    assert (tmp_path / ".hydra" / "config.yaml").is_file()
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "ok"
