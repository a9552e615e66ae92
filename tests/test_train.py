"""End-to-end runs: real compose, real Lightning fit on tiny data, real files on disk."""
import json
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT
from reslab.run import run

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


def test_the_step_loss_reaches_the_logger_on_lightnings_steps_with_the_values_of_logging_every_step(make_cfg,
                                                                                                       tmp_path):
    """train/loss is handed to Lightning only on the steps it logs (a `self.log` call costs ~1 ms): TensorBoard
    gets the same values at those steps as when every step is logged, and the run the same metrics."""
    def curve(folder, *extra):
        metrics = run(make_cfg("depth=8", "epochs=2", "trainer.accelerator=cpu", *extra), folder)
        events = EventAccumulator(str(folder / "tensorboard")).Reload()
        return {e.step: e.value for e in events.Scalars("train/loss")}, metrics["train/loss"]

    every, last = curve(tmp_path / "every", "trainer.log_every_n_steps=1")
    sparse, sparse_last = curve(tmp_path / "sparse", "trainer.log_every_n_steps=4")
    assert len(every) == 18 and sorted(sparse) == [s for s in sorted(every) if (s + 1) % 4 == 0]
    assert all(sparse[s] == every[s] for s in sparse) and sparse_last == last


def test_train_py_runs_as_a_user_would(tmp_path):
    out = subprocess.run(
        [sys.executable, "train.py", "depth=8", "epochs=1", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "test/acc=" in out.stdout
    assert (tmp_path / ".hydra" / "config.yaml").is_file()
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "ok"
