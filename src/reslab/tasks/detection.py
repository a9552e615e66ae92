"""Object detection: torchvision's Faster R-CNN + FPN on a reslab backbone (reslab.models.faster_rcnn), trained with
its four losses (logged under train/), evaluated with torchmetrics' MeanAveragePrecision (val|test/map, map_50)."""
import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.detection import MeanAveragePrecision

from reslab.config import to_dict
from reslab.data.detection_data import DetectionData
from reslab.models.faster_rcnn import build_detector
from reslab.models.network import build_model
from reslab.tasks.catalog import TASKS
from reslab.tasks.optim import configure

# Keys of the `task` group that are not the detector's own sizes.
TASK_KEYS = ("name", "monitor", "channels_last", "compile")


def build_network(cfg, class_names: list[str]) -> nn.Module:
    """The detector of a composed config (model, depth, width, task options, dataset.image_size)."""
    size = cfg.dataset.image_size
    net = build_model(**to_dict(cfg.model), depth=cfg.depth, width=cfg.width, input_shape=(3, size, size),
                      num_classes=len(class_names))
    options = {k: v for k, v in to_dict(cfg.task).items() if k not in TASK_KEYS}
    return build_detector(net, len(class_names), size, **options)


def build(cfg):
    """(datamodule, Detector) for a composed config."""
    data = DetectionData(**to_dict(cfg.dataset), batch_size=cfg.batch_size, seed=cfg.seed)
    data.setup("fit")
    model = build_network(cfg, data.info.class_names)
    scheduler = to_dict(cfg.scheduler) if cfg.scheduler else None
    return data, Detector(model, data.info.class_names, to_dict(cfg.optim), scheduler, cfg.task.monitor)


class Detector(L.LightningModule):
    """Wraps a torchvision detection model (losses in train mode, detections in eval mode). `class_names`
    (labels 1..K) are saved in the checkpoint's hyperparameters for scripts/detect.py."""

    channels_last = False

    def __init__(self, model: nn.Module, class_names: list[str], optim: dict, scheduler: dict | None,
                 monitor: str = TASKS.get("detection").monitor):
        super().__init__()
        self.save_hyperparameters(ignore=["model"], logger=False)
        self.monitor, self.lr = monitor, optim["lr"]
        self.model = model
        self.train_loss = MeanMetric()
        self.val_map = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
        self.test_map = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")

    def forward(self, images: list[torch.Tensor]) -> list[dict]:
        return self.model(images)

    def training_step(self, batch, batch_idx):
        images, targets = batch
        losses = self.model(images, targets)
        loss = sum(losses.values())
        size = len(images)
        for name, value in losses.items():
            self.log(f"train/{name}", value, batch_size=size)
        self.train_loss(loss.detach())
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/loss_epoch", self.train_loss, on_step=False, on_epoch=True, batch_size=size)
        return loss

    def validation_step(self, batch, batch_idx):
        images, targets = batch
        self.val_map.update(self.model(images), targets)

    def test_step(self, batch, batch_idx):
        images, targets = batch
        self.test_map.update(self.model(images), targets)

    def _log_map(self, stage: str) -> None:
        metric = getattr(self, f"{stage}_map")
        result = metric.compute()
        self.log(f"{stage}/map", result["map"], prog_bar=stage == "val")
        self.log(f"{stage}/map_50", result["map_50"], prog_bar=stage == "val")
        metric.reset()

    def on_validation_epoch_end(self):
        self._log_map("val")

    def on_test_epoch_end(self):
        self._log_map("test")

    def configure_optimizers(self):
        return configure(self, self.hparams.optim, self.hparams.scheduler, self.lr)
