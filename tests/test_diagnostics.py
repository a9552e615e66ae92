"""Diagnostics: real fits on tiny synthetic images, metrics.json and TensorBoard events read back from disk."""
import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reslab.callbacks.blocks import block_name
from reslab.config import validate
from reslab.errors import ConfigError
from reslab.models.describe import describe
from reslab.models.network import build_model
from reslab.run import run

TINY = ("dataset=synthetic", "dataset.image_size=8", "trainer.accelerator=cpu")
ONE_STEP = (*TINY, "dataset.num_samples=160", "batch_size=128", "epochs=1", "logger=none")  # 128 train images
SMALL = (*TINY, "dataset.num_samples=320", "batch_size=64", "epochs=2", "depth=8")  # 4 steps an epoch


def test_without_shortcuts_gradients_spread_over_orders_of_magnitude(make_cfg, tmp_path):
    """Depth 56, CIFAR layout with option-A shortcuts (He et al. 2015), at initialisation: the no-shortcut net's
    per-block gradient norms spread >= 100x more than the residual net's (measured: 1.5e3 against 4.8), and they
    grow towards the input (explode, not vanish)."""
    first = {}
    for model in ("noshortcut", "plain"):
        metrics = run(make_cfg(f"model={model}", "depth=56", "model.shortcut=zeropad", *ONE_STEP), tmp_path / model)
        first[model] = metrics["grad/first_step"]
        assert len(first[model]) == 27  # 3 stages x 9 blocks, stem and head excluded
        assert metrics["grad/spread"] == max(first[model]) / min(first[model])
    spread = {model: max(norms) / min(norms) for model, norms in first.items()}
    assert spread["noshortcut"] >= 100 * spread["plain"]
    assert first["noshortcut"][0] > 100 * first["noshortcut"][-1]


def test_weighted_run_writes_wrc_weights_cost_and_figure(make_cfg, tmp_path):
    cfg = make_cfg("model=weighted", "callbacks.grad_flow.every_n_steps=2", "callbacks.wrc.every_n_steps=2", *SMALL)
    metrics = run(cfg, tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert len(saved["wrc/alpha"]) == len(saved["wrc/beta"]) == 3
    assert saved["wrc/alpha"] != [1.0, 1.0, 1.0]  # learned away from alpha_init
    assert len(saved["grad/first_step"]) == len(saved["grad/last_step"]) == 3
    assert saved["grad/first_step"] != saved["grad/last_step"]
    model = build_model(**cfg.model, depth=8, width=None, input_shape=(3, 8, 8), num_classes=10)
    assert saved["flops"] == describe(model, (3, 8, 8))["flops"] > 0
    assert saved["throughput"] > 0 and saved["peak_mem_mb"] > 0
    assert saved["params"] == metrics["params"]
    assert (tmp_path / "grad_flow.png").stat().st_size > 1000

    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    steps = [e.step for e in events.Scalars("grad_norm/stage1.block0")]
    assert steps == [0, 2, 4, 6, 7]  # every 2 steps, and the last of 8
    assert [e.step for e in events.Scalars("wrc/alpha/stage3.block0")] == [0, 2, 4, 6, 8]
    assert events.Scalars("wrc/beta/stage2.block0")[-1].value == pytest.approx(saved["wrc/beta"][1])
    assert {"cost/throughput", "hp/flops", "hp/throughput", "hp/peak_mem_mb", "hp/params"} <= set(
        events.Tags()["scalars"])


def test_off_writes_nothing_and_full_adds_activations_without_changing_training(make_cfg, tmp_path):
    assert not {"grad_flow", "wrc", "cost"} & set(make_cfg("diagnostics=off").callbacks)
    runs = {level: run(make_cfg("model=weighted", f"diagnostics={level}", *SMALL), tmp_path / level)
            for level in ("off", "full")}
    off, full = runs["off"], runs["full"]

    tags = EventAccumulator(str(tmp_path / "off" / "tensorboard")).Reload().Tags()["scalars"]
    assert "val/acc" in tags
    assert not [t for t in tags if t.startswith(("grad_norm/", "wrc/", "cost/"))]
    assert not (tmp_path / "off" / "grad_flow.png").exists()
    assert not [k for k in off if k.startswith(("grad/", "wrc/")) or k in ("flops", "throughput", "act_std")]

    assert full["history"] == off["history"]  # diagnostics, the extra forward pass included, leave training alone
    assert len(full["act_std"]) == 3 and min(full["act_std"]) > 0
    histograms = EventAccumulator(str(tmp_path / "full" / "tensorboard")).Reload().Tags()["histograms"]
    assert "grad_hist/stage1.block0" in histograms


def test_every_n_steps_must_be_a_positive_integer(make_cfg):
    with pytest.raises(ConfigError, match="callbacks.grad_flow.every_n_steps=0"):
        validate(make_cfg("callbacks.grad_flow.every_n_steps=0"))


@pytest.mark.parametrize("name, expected", [("stages.0.3", "stage1.block3"), ("stages.2.blocks.1", "stage3.block1"),
                                            ("backbone.stages.1.0", "stage2.block0"), ("head", "head")])
def test_block_names_follow_stages(name, expected):
    assert block_name(name) == expected
