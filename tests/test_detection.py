"""Detection: torchvision-weight equivalence, every block type as a detector backbone, the shapes/voc/coco data,
scripts/detect.py on a real run folder."""
import json
import subprocess
import sys

import pytest
import torch
import torchvision
from omegaconf import OmegaConf
from PIL import Image

from conftest import ROOT
from reslab.config import validate
from reslab.config.dataset import check_dataset
from reslab.data.detection_data import DetectionData
from reslab.data.shapes import CLASSES
from reslab.errors import ConfigError, RefusedFile
from reslab.run import run

sys.path.insert(0, str(ROOT / "scripts"))
import detect  # noqa: E402  (scripts/detect.py)

TINY = ("task=detection", "depth=8", "width=8", "epochs=1", "batch_size=8", "logger=none", "diagnostics=off",
        "trainer.accelerator=cpu", "dataset.image_size=32", "dataset.num_samples=40", "task.proposals_train=50",
        "task.proposals_test=20")


def _randomize_batchnorm(model: torch.nn.Module) -> None:
    """Fresh BatchNorms are identities in eval mode; give them statistics so a wrong mapping shows."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            for t, lo, hi in ((m.running_mean, -0.1, 0.1), (m.running_var, 0.5, 1.5), (m.weight, 0.5, 1.5),
                              (m.bias, -0.1, 0.1)):
                t.data.copy_(lo + (hi - lo) * torch.rand(t.shape, generator=g))


def test_torchvision_weights_give_torchvision_features_proposals_and_detections(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    _randomize_batchnorm(reference)
    torch.save(reference.state_dict(), tmp_path / "fasterrcnn.pth")
    ours, names = detect.load(None, tmp_path / "fasterrcnn.pth")
    assert names[0] == "person" and len(names) == 90
    for model in (reference.eval(), ours):
        model.transform.min_size, model.transform.max_size = (160,), 240  # same resize, a fast check
        model.roi_heads.score_thresh = 0.0  # a random model's scores are low: keep every detection
    image = [torch.rand(3, 150, 220, generator=torch.Generator().manual_seed(0))]
    with torch.no_grad():
        images, _ = reference.transform(image)
        features = [m.backbone(images.tensors) for m in (reference, ours)]
        assert list(features[0]) == list(features[1]) == ["0", "1", "2", "3", "pool"]
        for key in features[0]:
            torch.testing.assert_close(features[1][key], features[0][key], atol=1e-4, rtol=0)
        proposals = [m.rpn(images, f)[0][0] for m, f in zip((reference, ours), features)]
        torch.testing.assert_close(proposals[1], proposals[0], atol=1e-4, rtol=0)
        expected, found = reference(image)[0], ours(image)[0]
    assert len(expected["boxes"]) > 0
    torch.testing.assert_close(found["boxes"], expected["boxes"], atol=1e-4, rtol=0)
    torch.testing.assert_close(found["scores"], expected["scores"], atol=1e-4, rtol=0)
    assert torch.equal(found["labels"], expected["labels"])


def test_torchvision_weights_of_another_model_fail_in_one_line(tmp_path):
    torch.save({"backbone.body.conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "other.pth")
    with pytest.raises(RefusedFile, match="missing key"):
        detect.load(None, tmp_path / "other.pth")


@pytest.mark.parametrize("model", ["plain", "weighted", "csp", "noshortcut",
                                   # shortcut designs (a representative subset, to keep the suite fast): orders and
                                   # stochastic depth, gates, normalisation-free
                                   "preact model.drop_path=0.5", "highway", "fixup"])
def test_every_block_type_trains_as_a_detector(make_cfg, tmp_path, model):
    metrics = run(make_cfg(*TINY, *f"model={model}".split()), tmp_path)
    assert metrics["status"] == "ok" and metrics["monitor"] == "val/map_50"
    assert 0 <= metrics["val/map_50"] <= 1 and 0 <= metrics["test/map_50"] <= 1 and "test/map" in metrics
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["history"][0]["train/loss"] == metrics["train/loss"]


def test_task_detection_defaults_to_shapes_and_takes_other_detection_sets(make_cfg):
    assert make_cfg("task=detection").dataset.name == "shapes"
    assert make_cfg("task=detection", "dataset=voc").dataset.name == "voc"
    assert make_cfg().dataset.name == "digits"
    with pytest.raises(ConfigError, match="not a detection data set"):
        validate(make_cfg("task=detection", "dataset=digits"))


def _shapes(**options):
    data = DetectionData(**{"name": "shapes", "image_size": 48, "num_samples": 30, "max_objects": 4,
                            "val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0, **options},
                         batch_size=4, seed=0)
    data.setup()
    return data


def test_shapes_are_deterministic_with_boxes_inside_the_images():
    first, again, other = _shapes(), _shapes(), _shapes(split_seed=1)
    assert first.info.input_shape == (3, 48, 48) and first.info.class_names == CLASSES
    image, target = first.splits.train[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 48, 48)
    assert torch.equal(image, again.splits.train[0][0]) and not torch.equal(image, other.splits.train[0][0])
    for _, target in first.splits.train:
        boxes = target["boxes"]
        assert len(boxes) >= 1 and (boxes[:, 2:] > boxes[:, :2]).all()
        assert boxes.min() >= 0 and boxes.max() <= 48
        assert set(target["labels"].tolist()) <= {1, 2, 3, 4}


def _jpeg(path, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 30, 30)).save(path)


def _voc(root, broken: str | None = None):
    base = root / "VOCdevkit" / "VOC2012"
    ids = {"train": ["a", "b"], "val": ["c"]}
    for split, names in ids.items():
        (base / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (base / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(names) + "\n")
        for name in names:
            _jpeg(base / "JPEGImages" / f"{name}.jpg")
            (base / "Annotations").mkdir(exist_ok=True)
            xml = ("<annotation><filename>{0}.jpg</filename><size><width>40</width><height>30</height>"
                   "<depth>3</depth></size><object><name>dog</name><difficult>0</difficult><bndbox><xmin>3</xmin>"
                   "<ymin>5</ymin><xmax>20</xmax><ymax>25</ymax></bndbox></object></annotation>").format(name)
            (base / "Annotations" / f"{name}.xml").write_text(broken if name == "b" and broken else xml)


def _data(name, root, **options):
    options = dict(name=name, root=str(root), year=2012 if name == "voc" else 2017, image_size=15, val_fraction=0.5,
                   split_seed=0, num_workers=0, **options)
    check_dataset(options)  # what validate() runs before any data is loaded
    data = DetectionData(**options, batch_size=2, seed=0)
    data.setup()
    return data


def test_voc_folder_loads_with_boxes_scaled_to_the_image_size(tmp_path):
    _voc(tmp_path)
    data = _data("voc", tmp_path)
    assert len(data.splits.train) == len(data.splits.val) == len(data.splits.test) == 1
    assert data.info.num_classes == 20
    image, target = data.splits.test[0]
    assert image.shape == (3, 15, 20)  # shorter side 30 -> 15
    assert target["labels"].tolist() == [12]  # dog
    torch.testing.assert_close(target["boxes"], torch.tensor([[1.0, 2.0, 10.0, 12.5]]))  # (2, 4, 20, 25) / 2


def test_voc_missing_data_and_malformed_annotation_fail_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no data at .*VOC2012.*ImageSets/Main/train.txt") as missing:
        _data("voc", tmp_path)
    _voc(tmp_path, broken="<annotation><object><name>dog</name>")
    with pytest.raises(ConfigError, match=r"b\.xml is not a valid VOC annotation") as malformed:
        _data("voc", tmp_path)
    assert "\n" not in str(missing.value) + str(malformed.value)


def _coco(root, annotations: dict | str | None = None):
    images = [{"id": 1, "file_name": "1.jpg", "width": 40, "height": 30},
              {"id": 2, "file_name": "2.jpg", "width": 40, "height": 30}]
    anns = [{"id": 1, "image_id": 1, "category_id": 18, "bbox": [2, 4, 18, 20], "area": 360, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 1},
            {"id": 3, "image_id": 2, "category_id": 3, "bbox": [10, 10, 8, 6], "area": 48, "iscrowd": 0}]
    cats = [{"id": 3, "name": "car"}, {"id": 18, "name": "dog"}]
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split in ("train2017", "val2017"):
        for image in images:
            _jpeg(root / split / image["file_name"])
        content = {"images": images, "annotations": anns, "categories": cats}
        text = annotations if isinstance(annotations, str) else json.dumps(annotations or content)
        (root / "annotations" / f"instances_{split}.json").write_text(text)


def test_coco_folder_loads_with_contiguous_labels_and_xyxy_boxes(tmp_path):
    _coco(tmp_path)
    data = _data("coco", tmp_path)
    assert data.info.class_names == ["car", "dog"]
    assert len(data.splits.test) == 2
    _, first = data.splits.test[0]
    assert first["labels"].tolist() == [2]  # dog; the crowd region is left out
    torch.testing.assert_close(first["boxes"], torch.tensor([[1.0, 2.0, 10.0, 12.0]]))  # (2, 4, 20, 24) / 2


def test_coco_missing_data_and_malformed_annotations_fail_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no data at .*annotations/instances_train2017.json"):
        _data("coco", tmp_path)
    _coco(tmp_path, annotations={"images": [{"id": 1, "file_name": "1.jpg"}],
                                 "annotations": [{"id": 1, "image_id": 1, "category_id": 3}],
                                 "categories": [{"id": 3, "name": "car"}]})
    with pytest.raises(ConfigError, match="malformed annotation .*KeyError: 'bbox'"):
        _data("coco", tmp_path)


@pytest.mark.slow  # a subprocess importing torch: the in-process tests cover the message
def test_train_py_reports_a_malformed_annotation_file_in_one_line(tmp_path):
    _coco(tmp_path, annotations="{not json")
    out = subprocess.run([sys.executable, "train.py", "task=detection", "dataset=coco", f"dataset.root={tmp_path}",
                          f"hydra.run.dir={tmp_path / 'run'}"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"error: dataset coco: {tmp_path}/annotations/instances_train2017.json is not a valid COCO instances file "
        f"(JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"]


def test_train_py_rejects_a_data_set_of_the_other_task_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "train.py", "task=classification", "dataset=shapes",
                          f"hydra.run.dir={tmp_path / 'run'}"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: dataset=shapes is not a classification data set: choose one of digits, digits_flat, wine, "
        "breast_cancer, cifar10, cifar100, mnist, fashion_mnist, imagefolder, synthetic"]


@pytest.fixture(scope="module")
def detection_run(tmp_path_factory):
    """A real one-epoch shapes run folder with its .hydra/config.yaml, as `python train.py` leaves it."""
    from hydra import compose, initialize_config_dir

    folder = tmp_path_factory.mktemp("detection_run")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(TINY))
    run(cfg, folder)
    (folder / ".hydra").mkdir()
    OmegaConf.save(cfg, folder / ".hydra" / "config.yaml")
    return folder


def test_detect_py_draws_and_tabulates_detections_of_a_run(detection_run, tmp_path, capsys):
    image = tmp_path / "scene.png"
    _jpeg(image, (64, 48))
    assert detect.main([str(image), "--run", str(detection_run), "--threshold", "0", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split() == ["image", "label", "score", "x1", "y1", "x2", "y2"]
    assert "detection(s)" in printed
    assert Image.open(tmp_path / "scene.png").size == (64, 48)
    assert detect.main([str(image), "--run", str(tmp_path)]) == 2  # not a run folder: one line, exit 2
