"""The config is the interface: one schema for every key in conf/, the Trainer, callbacks, loggers, optimizer and
schedule built from YAML (any Trainer flag is an override), and what a user sees (real runs of train.py)."""
import inspect
import json
import math
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import CONF, ROOT
from reslab.config import validate
from reslab.config.model import check_model
from reslab.config.schema import rule_for
from reslab.errors import ConfigError

TINY = ("depth=8", "epochs=1", "trainer.accelerator=cpu")


def train(*args, timeout=300):
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def leaves(node, prefix=""):
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and "_target_" not in value and value:
            yield from leaves(value, f"{path}.")
        else:
            yield path, value
            if isinstance(value, dict):
                yield from leaves(value, f"{path}.")


def every_option() -> list[list[str]]:
    """One override list per option of every config group (detection options with task=detection)."""
    runs = [[]]
    for group in ("optim", "scheduler", "trainer", "logger", "diagnostics", "landscape", "task", "dataset",
                  "callbacks"):
        for option in sorted((CONF / group).glob("*.yaml")):
            if group == "callbacks":
                runs.append([] if option.stem == "default" else [f"+callbacks={option.stem}"])
            elif group == "dataset" and option.stem in ("shapes", "voc", "coco"):
                runs.append(["task=detection", f"dataset={option.stem}"])
            else:
                runs.append([f"{group}={option.stem}"])
    return runs


def test_every_key_in_conf_has_a_rule_in_the_schema():
    missing = set()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for overrides in every_option():
            cfg = OmegaConf.to_container(compose(config_name="train", overrides=overrides), resolve=False)
            for path, _ in leaves({k: v for k, v in cfg.items() if k != "model"}):
                if rule_for(path) is None:
                    missing.add(path)
    assert not missing, sorted(missing)


def test_trainer_yaml_lists_every_lightning_trainer_argument():
    listed = set(OmegaConf.load(CONF / "trainer" / "default.yaml")) - {"_target_"}
    arguments = set(inspect.signature(L.Trainer.__init__).parameters) - {"self", "logger", "callbacks"}
    assert listed == arguments


@pytest.mark.parametrize("overrides, words", [
    (["lr=nan"], ["lr=nan", "finite"]),
    (["weight_decay=inf"], ["weight_decay=inf"]),
    (["label_smoothing=nan"], ["label_smoothing=nan"]),
    (["seed=4294967296"], ["seed=4294967296", "4294967295"]),
    (["epochs=0"], ["epochs=0"]),
    (["trainer.devices=0"], ["trainer.devices=0"]),
    (["trainer.accelerator=tpu"], ["trainer.accelerator='tpu'", "cpu"]),
    (["trainer.strategy=foo"], ["trainer.strategy='foo'", "ddp_spawn"]),
    (["trainer.log_every_n_steps=0"], ["trainer.log_every_n_steps=0"]),
    (["trainer.gradient_clip_val=nan"], ["trainer.gradient_clip_val=nan"]),
    (["trainer.num_sanity_val_steps=-5"], ["trainer.num_sanity_val_steps=-5"]),
    (["trainer.max_time=20s"], ["trainer.max_time='20s'", "DD:HH:MM:SS"]),
    (["optim.momentum=1.5"], ["optim.momentum=1.5", "[0, 1)"]),
    (["optim=adamw", "optim.betas=[0.9,1.0]"], ["optim.betas=[0.9, 1.0]"]),
    (["scheduler=multistep", "scheduler.milestones=[1.5,3]"], ["scheduler.milestones"]),
    (["scheduler.warmup_epochs=-1"], ["scheduler.warmup_epochs=-1"]),
    (["+callbacks=ema", "callbacks.ema.decay=1.5"], ["callbacks.ema.decay=1.5"]),
    (["task.monitor=val/loss"], ["task.monitor='val/loss'", "val/acc"]),
    (["width=100000"], ["width=100000", "GiB"]),
    (["dataset=synthetic", "dataset.num_samples=1000000000"], ["dataset.num_samples=1000000000", "GiB"]),
    (["dataset=wine", "batch_size=1"], ["batch_size=1", "BatchNorm"]),
    (["dataset=synthetic", "dataset.image_size=100000"], ["dataset.image_size=100000", "GiB"]),
    (["seed=-1"], ["seed=-1", "4294967295"]),
])
def test_bad_values_are_refused_in_one_line(make_cfg, overrides, words):
    with pytest.raises(ConfigError) as error:
        validate(make_cfg(*overrides))
    assert "\n" not in str(error.value) and all(w in str(error.value) for w in words), str(error.value)


# The model's arguments (moved from test_models.py: the config layer holds the rules; build_model trusts them).
@pytest.mark.parametrize("args, named", [
    (dict(block="resnet"), ["block='resnet'", "plain, weighted, csp, noshortcut"]),
    (dict(depth=21), ["depth=21", "18, 34, 50, 101, 152", "6n+2"]),
    (dict(depth=7, input_shape=(12,)), ["depth=7", "2n+2"]),
    (dict(width=0), ["width=0", ">= 1"]),
    (dict(width=1.5), ["width=1.5", "integer"]),
    (dict(colour="red"), ["model.colour", "shortcut"]),
    (dict(shortcut="conv"), ["model.shortcut='conv'", "projection, zeropad"]),
    (dict(split_ratio=1.0), ["model.split_ratio=1.0", "(0, 1)"]),
    (dict(order="foo"), ["model.order='foo'", "post, bn_after_add, relu_before_add, relu_preact, preact"]),
    (dict(shortcut_op="gate"), ["model.shortcut_op='gate'", "identity, scale, gate_exclusive, gate_shortcut, "
                                                           "conv1x1, dropout"]),
    (dict(norm="layer"), ["model.norm='layer'", "batch, group, none"]),
    (dict(init="xavier"), ["model.init='xavier'", "kaiming, dirac, fixup"]),
    (dict(drop_path=float("nan")), ["model.drop_path=nan", "[0, 1)"]),
    (dict(drop_path=1.0), ["model.drop_path=1.0", "[0, 1)"]),
    (dict(shortcut_dropout=-0.1), ["model.shortcut_dropout=-0.1", "[0, 1)"]),
    (dict(gate_bias=float("-inf")), ["model.gate_bias=-inf", "finite"]),
    (dict(shortcut_scale=float("nan")), ["model.shortcut_scale=nan", "finite"]),
    (dict(branch_scale="half"), ["model.branch_scale='half'", "finite"]),
    (dict(bottleneck="yes"), ["model.bottleneck='yes'", "true, false"]),
    (dict(bottleneck=True, depth=32), ["depth=32", "9n+2", "164", "model.bottleneck=true"]),
    (dict(block="noshortcut", drop_path=0.5), ["model.drop_path=0.5", "block=noshortcut", "needs a shortcut"]),
    (dict(block="noshortcut", init="fixup"), ["model.init='fixup'", "block=noshortcut", "kaiming or dirac"]),
    (dict(block="weighted", shortcut_op="scale"), ["model.shortcut_op='scale'", "block=weighted", "plain or csp"]),
])
def test_bad_model_arguments_name_the_value_and_the_choices(args, named):
    args = dict(block="plain", depth=20, width=None, input_shape=(3, 16, 16), num_classes=10) | args
    with pytest.raises(ValueError) as error:
        check_model(**args)
    assert all(text in str(error.value) for text in named) and "\n" not in str(error.value)


def test_depth_check_without_input_shape_accepts_either_family():
    check_model("plain", 22, None)  # an MLP depth, not a conv one
    with pytest.raises(ValueError, match="depth=21"):
        check_model("plain", 21, None)


def test_the_default_config_and_every_option_validate(make_cfg):
    for overrides in every_option():
        if "dataset=voc" in overrides or "dataset=coco" in overrides or \
                any(o.startswith("dataset=") and o not in ("dataset=digits", "dataset=digits_flat", "dataset=wine",
                                                            "dataset=breast_cancer", "dataset=synthetic",
                                                            "dataset=shapes") for o in overrides):
            continue  # file-based sets: their files are not here
        validate(make_cfg(*overrides))


def test_added_keys_are_refused_unless_they_exist(tmp_path):
    out = train("+foo=1", *TINY, f"hydra.run.dir={tmp_path}")
    assert out.returncode == 2 and out.stderr.strip() == "error: +foo is not a config key " \
                                                         "(see them with: python train.py --cfg job)"
    out = train("+dataset.image_size=64", *TINY, f"hydra.run.dir={tmp_path}")
    assert out.returncode == 2 and "+dataset.image_size is not a config key" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_any_trainer_flag_is_an_override_and_the_console_is_clean(tmp_path):
    """One real `python train.py`: a Trainer flag not in reslab's code (the profiler) is applied; the resolved
    config is printed; a warm-up longer than the run is clipped with a warning; train.log has one line per epoch
    and no progress-bar frames; library tips are filtered."""
    out = train("epochs=2", "depth=8", "trainer.limit_train_batches=0.5", "trainer.profiler=simple",
                "logger=none", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Profiler Report" in out.stdout + out.stderr
    assert "[reslab] config (resolved" in out.stdout and "limit_train_batches: 0.5" in out.stdout
    assert "warm-up clipped" in out.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["epochs"] == 2 and len(metrics["history"]) == 2
    assert "limit_train_batches: 0.5" in (tmp_path / ".hydra" / "config.yaml").read_text()
    log = (tmp_path / "train.log").read_text()
    assert log.count("epoch 1/2:") == 1 and log.count("epoch 2/2:") == 1 and "\r" not in log
    assert "Tip" not in out.stdout + out.stderr + log


def test_fast_dev_run_runs_one_batch(make_cfg, tmp_path):
    from reslab.run import run

    metrics = run(make_cfg(*TINY, "trainer.fast_dev_run=true"), tmp_path)
    assert metrics["status"] == "ok" and metrics["stopped_by"] == "max_steps"
    assert math.isfinite(metrics["test/acc"]) and not (tmp_path / "checkpoints").exists()


def test_max_time_stops_a_long_run_with_a_usable_record(make_cfg, tmp_path):
    from reslab.run import run

    metrics = run(make_cfg("depth=8", "epochs=1000", "trainer.max_time=00:00:00:03", "logger=none"), tmp_path)
    assert metrics["status"] == "ok" and metrics["stopped_by"] == "max_time" and metrics["epochs"] < 1000
    assert metrics["test/acc"] > 0 and (tmp_path / "checkpoints" / "best.ckpt").is_file()


def test_early_stopping_is_one_override(make_cfg, tmp_path):
    from reslab.run import run

    cfg = make_cfg("depth=8", "epochs=20", "logger=none", "+callbacks=early_stopping",
                   "callbacks.early_stopping.patience=1", "callbacks.early_stopping.min_delta=1.0")
    metrics = run(cfg, tmp_path)  # no epoch improves val/acc by 1.0: stops after patience + 1 epochs
    assert metrics["stopped_by"] == "early_stopping" and metrics["epochs"] == 2


def test_ema_metrics_are_those_of_the_averaged_weights(make_cfg, tmp_path):
    from reslab.tasks import build
    from reslab.run import run

    cfg = make_cfg("depth=8", "epochs=3", "logger=none", "+callbacks=ema", "callbacks.ema.decay=0.9")
    metrics = run(cfg, tmp_path)
    best = torch.load(tmp_path / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert "current_model_state" in best  # Lightning's averaging layout: state_dict holds the average
    changed = [k for k, v in best["state_dict"].items() if not torch.equal(v, best["current_model_state"][k])]
    assert changed
    data, task = build(cfg)
    task.load_state_dict(best["state_dict"])
    task.eval()
    correct = total = 0
    with torch.no_grad():
        for batch in data.test_dataloader():
            x, y = data.on_after_batch_transfer(batch, 0)
            correct += int((task(x).argmax(1) == y).sum())
            total += len(y)
    assert metrics["test/acc"] == pytest.approx(correct / total)


def test_mlflow_logger_writes_a_store_search_runs_reads(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    out = train(*TINY, "logger=mlflow", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=["reslab"])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(runs) == 1
    assert runs["metrics.test/acc"][0] == pytest.approx(metrics["test/acc"])
    assert any(str(v) == "8" for k, v in runs.iloc[0].items() if k.startswith("params.") and "depth" in k)


def test_scheduler_is_torch_sequential_warm_up_then_cosine(make_cfg):
    from hydra.utils import instantiate

    cfg = make_cfg()
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = instantiate(cfg.scheduler)(optimizer, total_steps=100, steps_per_epoch=10)
    assert type(schedule).__name__ == "SequentialLR"
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[0] == pytest.approx(0.01) and max(rates) == pytest.approx(0.1) and rates[-1] < 1e-3
    assert rates.index(max(rates)) == 25  # 3 epochs = 30 steps, clipped to a quarter of the run


def test_instantiated_components_are_the_configured_classes(make_cfg, tmp_path):
    from reslab.tasks import build
    from reslab.run import build_trainer

    cfg = make_cfg(*TINY, "+callbacks=[ema,early_stopping]", "logger=csv", "trainer.max_time=00:00:01:00",
                   f"trainer.default_root_dir={tmp_path}")
    data, _ = build(cfg)
    trainer = build_trainer(cfg, data)
    names = {type(c).__name__ for c in trainer.callbacks}
    assert {"EMAWeightAveraging", "EarlyStopping", "ModelCheckpoint", "History", "GradientFlow", "Timer"} <= names
    assert type(trainer.logger).__name__ == "CSVLogger" and Path(trainer.logger.save_dir) == tmp_path
    assert type(trainer.strategy.checkpoint_io).__name__ == "AtomicCheckpointIO"
