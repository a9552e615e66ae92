"""Faster R-CNN + FPN on any reslab conv network, built from torchvision's detection pieces.

The only hand-written part is the glue: `StagePyramid` feeds a reslab network's stage outputs (one per stage,
strides doubling) to torchvision's FeaturePyramidNetwork, plus a max-pooled top level, as torchvision's
`fasterrcnn_resnet50_fpn` does with ResNet's layer1..layer4. `build_detector` sizes the anchors and the image
transform to the images; `load_torchvision_weights` maps a `fasterrcnn_resnet50_fpn` state dict onto reslab's
`plain depth=50` detector (the same arithmetic under other parameter names).
"""
import re
from collections import OrderedDict

import torch
from torch import Tensor, nn
from torchvision.models.detection import FasterRCNN, FasterRCNN_ResNet50_FPN_Weights
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from reslab.errors import RefusedFile
from reslab.models.network import ResidualNet, build_model

ROI_SIZE = 7  # RoIAlign output side, as torchvision
# torchvision's fasterrcnn_resnet50_fpn settings: `build_detector(net, 90, **TORCHVISION)` accepts its weights.
TORCHVISION = dict(image_size=800, fpn_channels=256, representation_size=1024, proposals_train=2000,
                   proposals_test=1000, rois_per_image=512, anchor_sizes="auto")


class StagePyramid(nn.Module):
    """A reslab network's stages (head dropped) -> FPN levels "0".."n-1" plus the max-pooled level "pool"."""

    def __init__(self, net: ResidualNet, fpn_channels: int):
        super().__init__()
        net.head = nn.Identity()  # the classification head is not part of a detector
        self.body = net
        self.fpn = FeaturePyramidNetwork(list(net.stage_channels), fpn_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = fpn_channels  # what FasterRCNN reads

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        features = self.body.forward_stages(x)
        return self.fpn(OrderedDict([(str(i), f) for i, f in enumerate(features)]))


def auto_anchor_sizes(image_size: int, levels: int) -> tuple[float, ...]:
    """One anchor size per pyramid level: the top level's anchor is 0.64 of the image side, each level below
    half the one above (800-px images, 5 levels: torchvision's 32, 64, 128, 256, 512)."""
    return tuple(0.64 * image_size / 2 ** (levels - 1 - i) for i in range(levels))


def build_detector(net: ResidualNet, num_classes: int, image_size: int, fpn_channels: int,
                   representation_size: int, proposals_train: int, proposals_test: int, rois_per_image: int,
                   anchor_sizes: str | list = "auto", score_threshold: float = 0.05,
                   detections_per_image: int = 100) -> FasterRCNN:
    """FasterRCNN over `net`'s stages for `num_classes` object classes (plus background, label 0).

    Images (float, [0, 1], any size) are resized so their shorter side is `image_size` (longer side at most
    1333/800 of it) and normalised with ImageNet statistics by torchvision's transform.
    """
    backbone = StagePyramid(net, fpn_channels)
    levels = len(net.stage_channels) + 1
    sizes = auto_anchor_sizes(image_size, levels) if anchor_sizes == "auto" else tuple(anchor_sizes)
    if len(sizes) != levels:  # the config layer refuses it first (reslab.config.model.check_anchor_sizes)
        raise ValueError(f"anchor_sizes={list(sizes)}: this backbone has {levels} pyramid levels")
    anchors = AnchorGenerator(tuple((s,) for s in sizes), ((0.5, 1.0, 2.0),) * levels)
    roi_pool = MultiScaleRoIAlign([str(i) for i in range(levels - 1)], output_size=ROI_SIZE, sampling_ratio=2)
    return FasterRCNN(
        backbone, min_size=image_size, max_size=round(image_size * 1333 / 800),
        rpn_anchor_generator=anchors, box_roi_pool=roi_pool,
        box_head=TwoMLPHead(fpn_channels * ROI_SIZE**2, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes + 1),
        rpn_pre_nms_top_n_train=proposals_train, rpn_post_nms_top_n_train=proposals_train,
        rpn_pre_nms_top_n_test=proposals_test, rpn_post_nms_top_n_test=proposals_test,
        box_batch_size_per_image=rois_per_image, box_score_thresh=score_threshold,
        box_detections_per_img=detections_per_image)


# torchvision ResNet parameter names -> reslab's: stem = (conv, BN, ReLU, pool); a bottleneck branch =
# (conv, BN, ReLU) x 3, so convK/bnK sit at 3(K-1) and 3(K-1)+1; `downsample` is reslab's projection shortcut.
_BODY_RULES = (
    (r"^backbone\.body\.conv1\.", "backbone.body.stem.0."),
    (r"^backbone\.body\.bn1\.", "backbone.body.stem.1."),
    (r"^backbone\.body\.layer(\d)\.", lambda m: f"backbone.body.stages.{int(m[1]) - 1}."),
    (r"\.conv(\d)\.", lambda m: f".branch.{3 * (int(m[1]) - 1)}."),
    (r"\.bn(\d)\.", lambda m: f".branch.{3 * (int(m[1]) - 1) + 1}."),
    (r"\.downsample\.", ".shortcut."),
)


def torchvision_key(key: str) -> str:
    """The reslab detector key of a torchvision `fasterrcnn_resnet50_fpn` state-dict key (FPN, RPN and RoI
    heads are torchvision's own modules and keep their names)."""
    if key.startswith("backbone.body."):
        for pattern, replacement in _BODY_RULES:
            key = re.sub(pattern, replacement, key)
    return key


def load_torchvision_weights(detector: FasterRCNN, state_dict: dict) -> None:
    """Load a `fasterrcnn_resnet50_fpn` state dict (its COCO weights, or a fresh model's) into `detector`.

    BatchNorm `num_batches_tracked` counters may be absent (torchvision's pretrained models use
    FrozenBatchNorm2d, which has none); any other missing or extra key is an error.
    """
    mapped = {torchvision_key(k): v for k, v in state_dict.items()}
    missing, unexpected = detector.load_state_dict(mapped, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        first = (missing or unexpected)[0]
        raise RefusedFile(f"not a fasterrcnn_resnet50_fpn state dict for reslab's plain depth=50 detector: "
                          f"{'missing' if missing else 'unexpected'} key {first!r} "
                          f"({len(missing)} missing, {len(unexpected)} unexpected)")


def torchvision_detector(num_classes: int = 90) -> FasterRCNN:
    """reslab's `plain depth=50` (ImageNet stem, projection shortcuts) detector in torchvision's
    `fasterrcnn_resnet50_fpn` configuration (91 outputs with background: COCO's category ids)."""
    net = build_model("plain", 50, None, (3, 800, 800), num_classes=1, stem="imagenet")
    return build_detector(net, num_classes, **TORCHVISION)


def coco_class_names() -> list[str]:
    """torchvision's COCO category names for labels 1..90 (some are "N/A": ids COCO does not use)."""
    return FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"][1:]


def read_state_dict(path) -> dict:
    """A state dict saved with torch.save, read without unpickling code (weights_only)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as err:
        raise RefusedFile(f"cannot read state dict {str(path)!r}: {str(err).splitlines()[0]}") from None
