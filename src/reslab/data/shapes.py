"""`shapes`: an embedded synthetic detection set. Circles, squares, triangles and crosses of varied size and
colour, partly overlapping, on textured backgrounds (smooth colour fields + stripes + pixel noise); each box is
the exact pixel extent of its shape (drawn before any later shape covers part of it). Generated from a seed."""
import math

import torch
import torch.nn.functional as F

from reslab.data.detection_data import InMemoryDetection
from reslab.data.splits import Splits, carve

CLASSES = ["circle", "square", "triangle", "cross"]
MAX_COVER = 0.4  # largest share of a box that another box of the same image may cover: every shape stays visible


def _mask(kind: int, x: torch.Tensor, y: torch.Tensor, r: float) -> torch.Tensor:
    """Pixels of a shape of half-size r centred at the origin (x, y: pixel-centre offsets)."""
    ax, ay = x.abs(), y.abs()
    if kind == 0:
        return x**2 + y**2 <= r**2
    if kind == 1:
        return (ax <= r) & (ay <= r)
    if kind == 2:  # upright triangle: widens from the apex at -r to a base of 2r at +r
        return (ay <= r) & (ax <= (y + r) / 2)
    arm = r / 3
    return ((ax <= arm) & (ay <= r)) | ((ay <= arm) & (ax <= r))


def _background(size: int, g: torch.Generator) -> torch.Tensor:
    """A smooth random colour field plus faint stripes of random direction and period, in [0, 1]."""
    coarse = torch.rand(1, 3, 3, 3, generator=g)
    field = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0]
    angle, period, phase = (torch.rand(3, generator=g) * torch.tensor([math.pi, size / 4, 2 * math.pi])).tolist()
    grid = torch.arange(size, dtype=torch.float32)
    along = grid[None, :] * math.cos(angle) + grid[:, None] * math.sin(angle)
    stripes = torch.sin(2 * math.pi * along / (period + 3) + phase)
    return (0.25 + 0.5 * field + 0.08 * stripes + 0.04 * torch.randn(3, size, size, generator=g)).clamp(0, 1)


def _cover(a: list[float], b: list[float]) -> float:
    """Intersection of boxes a and b over the area of the smaller one."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda box: (box[2] - box[0]) * (box[3] - box[1])  # noqa: E731
    return w * h / min(area(a), area(b))


def draw(size: int, max_objects: int, g: torch.Generator) -> tuple[torch.Tensor, dict]:
    """One uint8 image (3, size, size) and its target {"boxes": (N, 4) xyxy float, "labels": (N,) in 1..4}."""
    image = _background(size, g)
    centres = torch.arange(size, dtype=torch.float32) + 0.5
    boxes, labels = [], []
    for _ in range(int(torch.randint(1, max_objects + 1, (1,), generator=g))):
        kind = int(torch.randint(len(CLASSES), (1,), generator=g))
        r = size * (0.08 + 0.14 * float(torch.rand(1, generator=g)))
        cx, cy = (r + (size - 2 * r) * torch.rand(2, generator=g)).tolist()
        mask = _mask(kind, centres[None, :] - cx, centres[:, None] - cy, r)
        rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
        box = [float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)]
        if any(_cover(box, other) > MAX_COVER for other in boxes):
            continue
        colour = torch.rand(3, generator=g)
        local = image[:, mask].mean(1)
        if (colour - local).abs().sum() < 0.6:  # too close to the background under it: shift every channel
            colour = (local + 0.5) % 1.0
        image[:, mask] = colour[:, None]
        boxes.append(box)
        labels.append(kind + 1)
    target = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
              "labels": torch.tensor(labels, dtype=torch.int64)}
    return (image * 255).round().to(torch.uint8), target


def load(image_size: int, num_samples: int, max_objects: int, val_fraction: float, test_fraction: float,
         split_seed: int) -> Splits:
    """`num_samples` images of `image_size` px with 1..`max_objects` shapes each, split train/val/test."""
    g = torch.Generator().manual_seed(split_seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many tiny tensor ops: extra threads only wait on each other (10x slower on 2 cores)
    try:
        images, targets = zip(*(draw(image_size, max_objects, g) for _ in range(num_samples)))
    finally:
        torch.set_num_threads(threads)
    data = InMemoryDetection(torch.stack(images), list(targets))
    train, val, test = carve(data, (val_fraction, test_fraction), split_seed)
    return Splits(train, val, test, list(CLASSES))
