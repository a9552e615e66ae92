"""The config schema: what each key of conf/ may hold. The YAML files hold the values and their comments; this
table holds the types, ranges and choices, once (a test checks that every key in conf/ has a rule here).

Keys are dotted paths; `*` matches one named entry of an open mapping (callbacks.<name>, logger.<name>). The
model's keys (`MODEL`: depth, width, model.*) are checked together, with the depth rule and the combinations, by
`reslab.config.model.check_model`; their choices are what reslab.models implements. Trainer keys are
lightning.Trainer's arguments (conf/trainer/default.yaml lists every one).
"""
import re

from reslab.config.mechanisms import MECHANISMS
from reslab.config.rules import (Rule, boolean, checked_by, choice, component, fraction, integer, number, positive,
                                 sequence, text)
from reslab.models.options import INITS, MLP_NORMS, NORMS, ORDERS, SHORTCUT_OPS, SHORTCUTS, STEMS
from reslab.tasks.catalog import TASKS

SEED_MAX = 2**32 - 1  # numpy's and DataLoader workers' seed range
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "ddp_find_unused_parameters_true",
              "ddp_spawn_find_unused_parameters_true", "single_device", "fsdp", "deepspeed")
_MAX_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}:\d{2}$")

_flag = boolean(optional=True)
# Trainer arguments lightning.Trainer refuses itself in one line naming the value and the valid ones (each tried,
# 2026-12-04: MisconfigurationException / ValueError when the Trainer is built; reslab prints it as one line).
# The others keep reslab's rule: Lightning accepts them silently (log_every_n_steps=0, gradient_clip_val=nan,
# enable_checkpointing='yes', ...) or fails with a traceback (benchmark='yes', model_registry=5); accelerator,
# strategy, devices and max_time are kept so that they fail before the data are loaded (tests pin them).
_lightning = checked_by("lightning.Trainer")

MODEL = {
    "depth": integer(1),  # and a depth of the layouts (reslab.models.layout)
    "width": integer(1, optional=True),
    "model.block": text(),  # checked against the block catalogue (reslab.models.catalog)
    "model.module": text(optional=True),  # a module registering a block type of your own (docs/extending.md)
    "model.shortcut": choice(*SHORTCUTS),
    "model.stem": choice(*STEMS),
    "model.zero_init_residual": boolean(),
    "model.alpha_init": number(),
    "model.beta_init": number(),
    "model.learn_beta": boolean(),
    "model.split_ratio": fraction(),
    "model.mlp_norm": choice(*MLP_NORMS),
    "model.dropout": number(0, 1, high_open=True),
    "model.shortcut_op": choice(*SHORTCUT_OPS),
    "model.shortcut_scale": number(),
    "model.branch_scale": number(),
    "model.gate_bias": number(),
    "model.shortcut_dropout": number(0, 1, high_open=True),
    "model.order": choice(*ORDERS),
    "model.norm": choice(*NORMS),
    "model.init": choice(*INITS),
    "model.drop_path": number(0, 1, high_open=True),
    "model.bottleneck": boolean(),
}

TOP = {
    "seed": integer(0, SEED_MAX),
    "epochs": integer(1),
    "batch_size": integer(1),
    "lr": positive(),
    "weight_decay": number(0),
    "label_smoothing": number(0, 1, high_open=True),
    "num_classes": integer(2, optional=True),
    "resume": text(optional=True),
    "ckpt_path": text(optional=True),
    "cpu.threads": integer(1) | choice("auto"),
    "cpu.flush_denormal": boolean(),
    "summary.target": number(optional=True),
    "summary.loss_target": positive(),
}

TASK = {
    "task.name": choice(*TASKS),
    "task.monitor": text(),  # checked against the task's monitors (reslab.tasks.catalog)
    "task.channels_last": choice("auto", True, False),
    "task.compile": boolean() | choice("auto"),
    "task.fpn_channels": integer(1),
    "task.representation_size": integer(1),
    "task.anchor_sizes": choice("auto") | sequence(positive()),
    "task.proposals_train": integer(1),
    "task.proposals_test": integer(1),
    "task.rois_per_image": integer(1),
    "task.score_threshold": number(0, 1),
    "task.detections_per_image": integer(1),
}

DATASET = {
    "dataset.name": text(),  # checked against the data catalogue (reslab.data.catalog)
    "dataset.module": text(optional=True),  # a module registering a data set of your own (docs/extending.md)
    "dataset.val_fraction": fraction(),
    "dataset.test_fraction": fraction(),
    "dataset.split_seed": integer(0, SEED_MAX),
    "dataset.in_memory": boolean(),
    "dataset.augment": boolean(),
    "dataset.download": boolean(),
    "dataset.root": text(),
    "dataset.image_size": integer(1),  # and bounded by memory (limits.py)
    "dataset.channels": integer(1, 64),
    "dataset.num_classes": integer(2),
    "dataset.num_samples": integer(1),  # and bounded by memory (limits.py)
    "dataset.noise": number(0),
    "dataset.num_workers": integer(0) | choice("auto"),
    "dataset.decoded_max_mb": number(0),
    "dataset.cache_dir": text(optional=True),
    "dataset.shape": choice("image", "vector"),
    "dataset.max_objects": integer(1),
    "dataset.year": integer(2007, 2100),
}

OPTIM = {
    "optim._target_": text(),
    "optim._partial_": choice(True),
    "optim.lr": positive(),
    "optim.momentum": number(0, 1, high_open=True),
    "optim.dampening": number(0, 1),
    "optim.nesterov": boolean(),
    "optim.weight_decay": number(0),
    "optim.betas": sequence(number(0, 1, high_open=True), length=2),
    "optim.eps": positive(),
    "optim.amsgrad": boolean(),
    "optim.fused": _flag,
    "optim.foreach": _flag,
}

SCHEDULER = {
    "scheduler": component(),
    "scheduler._target_": text(),
    "scheduler._partial_": choice(True),
    "scheduler.warmup_epochs": number(0),
    "scheduler.warmup_start_factor": number(0, 1, low_open=True),
    "scheduler.min_factor": number(0, 1),
    "scheduler.max_lr": positive(),
    "scheduler.pct_start": fraction(),
    "scheduler.div_factor": positive(),
    "scheduler.final_div_factor": positive(),
    "scheduler.milestones": sequence(integer(0)),
    "scheduler.gamma": number(0, 1, low_open=True),
    "scheduler.warmup_steps": integer(0),
    "scheduler.warmup_factor": number(0, 1, low_open=True),
}

TRAINER = {
    "trainer._target_": text(),
    "trainer.accelerator": choice(*ACCELERATORS),
    "trainer.strategy": choice(*STRATEGIES) | component(optional=False),
    "trainer.devices": integer(1) | choice("auto", -1) | sequence(integer(0)),
    "trainer.num_nodes": _lightning,
    "trainer.precision": _lightning,
    "trainer.fast_dev_run": _lightning,
    "trainer.max_epochs": _lightning,
    "trainer.min_epochs": integer(0, optional=True),
    "trainer.max_steps": _lightning,
    "trainer.min_steps": integer(0, optional=True),
    "trainer.max_time": Rule(lambda v: bool(_MAX_TIME.match(str(v))) or hasattr(v, "keys"),
                             '"DD:HH:MM:SS" (e.g. "00:00:10:00") or {days, hours, minutes, seconds}', True),
    "trainer.limit_train_batches": _lightning,
    "trainer.limit_val_batches": _lightning,
    "trainer.limit_test_batches": _lightning,
    "trainer.limit_predict_batches": _lightning,
    "trainer.overfit_batches": _lightning,
    "trainer.val_check_interval": _lightning,
    "trainer.check_val_every_n_epoch": integer(1, optional=True),
    "trainer.num_sanity_val_steps": integer(-1, optional=True),
    "trainer.log_every_n_steps": integer(1, optional=True),
    "trainer.enable_checkpointing": _flag,
    "trainer.enable_progress_bar": _flag,
    "trainer.enable_model_summary": _flag,
    "trainer.accumulate_grad_batches": integer(1),
    "trainer.gradient_clip_val": number(0, optional=True),
    "trainer.gradient_clip_algorithm": _lightning,
    "trainer.deterministic": boolean(optional=True) | choice("warn"),
    "trainer.benchmark": _flag,
    "trainer.inference_mode": boolean(),
    "trainer.use_distributed_sampler": boolean(),
    "trainer.profiler": _lightning,
    "trainer.detect_anomaly": boolean(),
    "trainer.barebones": boolean(),
    "trainer.plugins": _lightning,
    "trainer.sync_batchnorm": boolean(),
    "trainer.reload_dataloaders_every_n_epochs": _lightning,
    "trainer.default_root_dir": text(),
    "trainer.enable_autolog_hparams": boolean(),
    "trainer.model_registry": text(optional=True),
}

# Named components: any `_target_`, plus rules for the arguments of the ones conf/ ships.
COMPONENTS = {
    "optim": component(optional=False),
    "trainer": component(optional=False),
    "callbacks": Rule(lambda v: hasattr(v, "items"), "a mapping of named callbacks", optional=True),
    "logger": Rule(lambda v: hasattr(v, "items"), "a mapping of named loggers", optional=True),
    "callbacks.*": component(),
    "logger.*": component(),
    "*._target_": text(),
    "callbacks.*.every_n_steps": integer(1),
    "callbacks.*.histograms": boolean(),
    "callbacks.*.monitor": text(optional=True),
    "callbacks.*.mode": text(),
    "callbacks.checkpoint.mode": choice("min", "max"),
    "callbacks.early_stopping.mode": choice("min", "max"),
    "callbacks.lr_finder.mode": choice("exponential", "linear"),
    "callbacks.*.dirpath": text(),
    "callbacks.*.filename": text(),
    "callbacks.*.save_top_k": integer(-1),
    "callbacks.*.save_last": boolean(optional=True) | choice("link"),
    "callbacks.*.every_n_epochs": integer(0),
    "callbacks.*.enable_version_counter": boolean(),
    "callbacks.*.seed": integer(0, SEED_MAX),
    "callbacks.*.logging_interval": choice("step", "epoch", optional=True),
    "callbacks.*.decay": number(0, 1, low_open=True, high_open=True),
    "callbacks.*.update_every_n_steps": integer(1),
    "callbacks.*.update_starting_at_step": integer(0, optional=True),
    "callbacks.*.swa_lrs": positive(),
    "callbacks.*.swa_epoch_start": positive(),
    "callbacks.*.annealing_epochs": integer(0),
    "callbacks.*.patience": integer(0),
    "callbacks.*.min_delta": number(0),
    "callbacks.*.check_finite": boolean(),
    "callbacks.*.num_training_steps": integer(1),
    "callbacks.*.max_depth": integer(-1),
    "callbacks.*.samples": integer(1),
    "callbacks.*.iterations": integer(1),
    **{f"callbacks.*.{name}": positive() for name in ("tolerance", "min_lr", "max_lr", "window_s")},
    "callbacks.*.min_eigenvalue": boolean(),
    "logger.*.save_dir": text(),
    "logger.*.name": text(),
    "logger.*.version": Rule(lambda v: isinstance(v, (str, int)), "a string or an integer"),
    "logger.*.default_hp_metric": boolean(),
    "logger.*.experiment_name": text(),
    "logger.*.tracking_uri": text(),
    "logger.*.run_name": text(optional=True),
    "logger.*.artifact_location": text(optional=True),
}

RULES: dict[str, Rule] = {**MODEL, **TOP, **TASK, **DATASET, **OPTIM, **SCHEDULER, **TRAINER, **COMPONENTS, **MECHANISMS}


def rule_for(key: str) -> Rule | None:
    """The rule of a dotted key: exact, else with its entry name (second part) as `*`, else `*._target_`."""
    if key in RULES:
        return RULES[key]
    parts = key.split(".")
    if len(parts) >= 2:
        wild = ".".join([parts[0], "*", *parts[2:]])
        if wild in RULES:
            return RULES[wild]
    return RULES.get(f"*.{parts[-1]}") if parts[-1] == "_target_" else None
