"""Image / vector classification: cross-entropy, torchmetrics accuracy, optimizer and per-step schedule."""
import logging

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from reslab.config import to_dict
from reslab.config.dataset import check_num_classes
from reslab.data.module import ReslabData
from reslab.models.network import build_model
from reslab.tasks.catalog import DEFAULT_MONITOR
from reslab.tasks import compile as compiling
from reslab.tasks.memory_format import choose as choose_memory_format
from reslab.tasks.optim import configure

log = logging.getLogger("reslab")


def build(cfg):
    """(datamodule, Classifier) for a composed config: the network follows the data's shape and classes."""
    data = ReslabData(**to_dict(cfg.dataset), batch_size=cfg.batch_size, seed=cfg.seed)
    data.setup("fit")
    info = data.info
    check_num_classes(cfg.num_classes, info.num_classes, cfg.dataset.name)
    model = build_model(**to_dict(cfg.model), depth=cfg.depth, width=cfg.width,
                        input_shape=tuple(info.input_shape), num_classes=info.num_classes)
    channels_last = cfg.task.channels_last if info.kind == "image" else False
    steps = compiling.training_steps(cfg.epochs, len(data.splits.train), cfg.batch_size, cfg.trainer.max_steps)
    compiled, why = compiling.decide(cfg.task.compile, compiling.device_type(cfg.trainer.accelerator), steps)
    log.info(why)
    task = Classifier(model, info.num_classes, to_dict(cfg.optim), to_dict(cfg.scheduler) if cfg.scheduler else None,
                      label_smoothing=cfg.label_smoothing, channels_last=channels_last, compile=compiled,
                      monitor=cfg.task.monitor)
    return data, task


class Classifier(L.LightningModule):
    """Wraps any reslab network. `optim`/`scheduler` are the resolved dicts of the config groups (`_partial_`
    targets, built in `configure_optimizers`). With `compile`, the forward pass runs through torch.compile of the
    network; `self.model` stays the network itself (its parameter names, hooks and checkpoints unchanged).
    `channels_last`: True, False or "auto" (the faster format on the trainer's device, decided when fitting starts:
    reslab.tasks.memory_format; channels_last until then)."""

    def __init__(self, model: nn.Module, num_classes: int, optim: dict, scheduler: dict | None,
                 label_smoothing: float = 0.0, channels_last: bool | str = False, compile: bool = False,
                 monitor: str = DEFAULT_MONITOR):
        super().__init__()
        self.save_hyperparameters(ignore=["model"], logger=False)
        self.monitor, self.lr = monitor, optim["lr"]
        self.channels_last_setting = channels_last
        self.channels_last = channels_last in ("auto", True)
        self.model = model.to(memory_format=torch.channels_last) if self.channels_last else model
        # Outside the module tree (no second copy of the parameters in state_dict):
        self.__dict__["net"] = torch.compile(self.model) if compile else self.model
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.eval_loss_fn = nn.CrossEntropyLoss()
        # No per-batch input checks: torchmetrics' NaN and label-range checks read values back from the device
        # (a GPU sync every step); the inputs here are the network's own logits and the data set's labels.
        self.train_loss = MeanMetric(nan_strategy="disable")
        self.train_acc = _accuracy(num_classes)
        self.val_acc = _accuracy(num_classes)
        self.test_acc = _accuracy(num_classes)
        self._log_epoch_metrics = True
        self.top5 = num_classes > 10
        if self.top5:
            self.val_top5 = _accuracy(num_classes, top_k=5)
            self.test_top5 = _accuracy(num_classes, top_k=5)

    def setup(self, stage: str) -> None:
        if stage != "fit" or self.channels_last_setting != "auto":
            return
        strategy, data = self.trainer.strategy, self.trainer.datamodule
        if getattr(data, "info", None) is None:  # no reslab data module: the provisional channels_last stays
            return
        decision = None
        if strategy.is_global_zero:  # one probe (DDP ranks probing at once would time each other)
            decision = choose_memory_format(self.model, data.info.input_shape, data.batch_size,
                                            strategy.root_device, samples=len(data.splits.train))
        self.channels_last, how = strategy.broadcast(decision)
        self.channels_last_setting = self.channels_last  # decided: a second fit (lr finder) keeps it
        log.info("task.channels_last=%s: %s", self.channels_last, how)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        self.model.to(memory_format=fmt)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = self.loss_fn(logits, y)
        self.train_acc.update(logits, y)  # update, not forward: the per-batch value is not logged
        self.train_loss.update(loss.detach())
        if self._step_logged(batch_idx):
            self.log("train/loss", loss, prog_bar=True)
        if self._log_epoch_metrics:
            # A metric object need only be handed to Lightning once an epoch: it computes and resets it at the
            # epoch's end. Each `self.log` call costs about as much as a small network's optimizer step.
            self.log("train/loss_epoch", self.train_loss, on_step=False, on_epoch=True)
            self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
            self._log_epoch_metrics = False
        return loss

    def _step_logged(self, batch_idx: int) -> bool:
        """Whether Lightning hands this step's values to the loggers (every `log_every_n_steps` optimizer steps, and
        at a stop) or the step ends the epoch (the loss the epoch's progress line shows): `self.log` is called on
        those steps only, since each call costs about 1 ms (a digits step is 17 ms)."""
        trainer = self.trainer
        every = trainer.log_every_n_steps
        return (bool(every) and (trainer.global_step + 1) % every == 0 or trainer.should_stop
                or trainer.is_last_batch or batch_idx + 1 >= trainer.num_training_batches)

    def on_train_epoch_start(self):
        self._log_epoch_metrics = True

    def _evaluate(self, batch, stage: str):
        x, y = batch
        logits = self(x)
        self.log(f"{stage}/loss", self.eval_loss_fn(logits, y), prog_bar=stage == "val")
        acc = getattr(self, f"{stage}_acc")
        acc.update(logits, y)
        self.log(f"{stage}/acc", acc, prog_bar=stage == "val")
        if self.top5:
            top5 = getattr(self, f"{stage}_top5")
            top5.update(logits, y)
            self.log(f"{stage}/acc_top5", top5)

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")

    def configure_optimizers(self):
        return configure(self, self.hparams.optim, self.hparams.scheduler, self.lr)


def _accuracy(num_classes: int, top_k: int = 1) -> MulticlassAccuracy:
    return MulticlassAccuracy(num_classes, top_k=top_k, average="micro", validate_args=False)
