"""Detect objects in images with a trained reslab detector; write each image with its boxes drawn (PNG) and print
the detections as a table.

    python scripts/detect.py photo.jpg street.png --run outputs/2025-01-01/12-00-00
    python scripts/detect.py photo.jpg --torchvision-weights fasterrcnn_resnet50_fpn_coco.pth   # COCO classes

`--torchvision-weights` loads a torchvision `fasterrcnn_resnet50_fpn` state-dict file into reslab's own
`plain depth=50` detector (see reslab.models.faster_rcnn).
"""
import argparse
import math
import sys
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torchvision.io import ImageReadMode, decode_image, write_png
from torchvision.transforms.v2.functional import to_dtype
from torchvision.utils import draw_bounding_boxes

from reslab.errors import RefusedFile, UserError


def load(run: Path | None, torchvision_weights: Path | None) -> tuple[torch.nn.Module, list[str]]:
    """(detector in eval mode, class names for labels 1..K) from a run folder or a torchvision state dict."""
    if torchvision_weights is not None:
        from reslab.models.faster_rcnn import coco_class_names, load_torchvision_weights, read_state_dict, torchvision_detector

        detector = torchvision_detector()
        load_torchvision_weights(detector, read_state_dict(torchvision_weights))
        return detector.eval(), coco_class_names()
    from reslab.export import load_detector

    return load_detector(run)


MAX_PIXELS = 50_000_000  # an image larger than this (7071x7071) is refused before it is decoded


def read_image(path: Path) -> torch.Tensor:
    """The image at `path` as 8-bit RGB (16-bit PNGs scaled down); RefusedFile for an unreadable or huge one (its
    size is read from the header first, so nothing is allocated for it)."""
    try:
        with Image.open(path) as header:
            width, height = header.size
    except Image.DecompressionBombError as err:  # PIL's own limit, far above MAX_PIXELS
        raise RefusedFile(f"{path} is too large ({str(err).split(',')[0]}): resize it first") from None
    except (OSError, UnidentifiedImageError) as err:
        raise RefusedFile(f"{path} is not a readable image ({str(err).splitlines()[0]})") from None
    if width * height > MAX_PIXELS:
        raise RefusedFile(f"{path} is too large ({width}x{height} pixels, more than {MAX_PIXELS:,}): resize it "
                          f"first")
    try:
        image = decode_image(str(path), mode=ImageReadMode.RGB)
    except (RuntimeError, OSError) as err:
        raise RefusedFile(f"{path} is not a readable image ({str(err).splitlines()[0]})") from None
    return to_dtype(image, torch.uint8, scale=True)


def detect(paths: list[Path], detector, class_names: list[str], threshold: float, out_dir: Path) -> list[tuple]:
    """Rows (image, label, score, x1, y1, x2, y2) of the detections scoring at least `threshold`; each image is
    written to out_dir/<name>.png with its boxes drawn."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in paths:
        image = read_image(path)
        with torch.no_grad():
            found = detector([image.float() / 255])[0]
        keep = found["scores"] >= threshold
        boxes, labels, scores = found["boxes"][keep], found["labels"][keep].tolist(), found["scores"][keep].tolist()
        names = [class_names[label - 1] for label in labels]
        captions = [f"{name} {score:.2f}" for name, score in zip(names, scores)]
        write_png(draw_bounding_boxes(image, boxes, captions, colors="red", width=2), str(out_dir / f"{path.stem}.png"))
        rows += [(path.name, name, score, *box) for name, score, box in zip(names, scores, boxes.tolist())]
    return rows


def table(rows: list[tuple]) -> str:
    lines = [f"{'image':<24} {'label':<16} {'score':>6} {'x1':>7} {'y1':>7} {'x2':>7} {'y2':>7}"]
    lines += [f"{image:<24} {label:<16} {score:6.3f} {x1:7.1f} {y1:7.1f} {x2:7.1f} {y2:7.1f}"
              for image, label, score, x1, y1, x2, y2 in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path, help="image files (jpg, png, ...)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, help="folder of a task=detection training run")
    source.add_argument("--torchvision-weights", type=Path, help="torchvision fasterrcnn_resnet50_fpn state dict")
    parser.add_argument("--threshold", type=float, default=0.5, help="smallest score shown (default 0.5)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the drawn images (default: <run>/detections, else ./detections)")
    args = parser.parse_args(argv)
    if not math.isfinite(args.threshold) or not 0 <= args.threshold <= 1:
        parser.error(f"--threshold={args.threshold} must be a score in [0, 1]")
    try:
        detector, class_names = load(args.run, args.torchvision_weights)
        out = args.out or (args.run / "detections" if args.run else Path("detections"))
        rows = detect(args.images, detector, class_names, args.threshold, out)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table(rows))
    print(f"{len(rows)} detection(s); images with boxes in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
