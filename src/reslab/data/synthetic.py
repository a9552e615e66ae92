"""Class-conditional synthetic images of any size: one smooth random pattern per class plus pixel noise.
Learnable (not noise), generated from a seed, for benchmarks and tests."""
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from reslab.data.splits import Splits, carve

_CHUNK = 4096  # samples generated at a time: bounds the float temporaries for large sets


def load(shape: str, image_size: int, channels: int, num_classes: int, num_samples: int, noise: float,
         val_fraction: float, test_fraction: float, split_seed: int) -> Splits:
    """`num_samples` images (balanced classes) as uint8 NCHW, or flattened as float32 vectors (`shape=vector`),
    split train/val/test. `split_seed` seeds both the samples and the split."""
    generator = torch.Generator().manual_seed(split_seed)
    coarse = torch.randn(num_classes, channels, 4, 4, generator=generator)
    patterns = F.interpolate(coarse, size=(image_size, image_size), mode="bilinear", align_corners=False)
    patterns = patterns / patterns.std(dim=(1, 2, 3), keepdim=True)  # unit signal: `noise` is the noise/signal ratio
    y = torch.arange(num_samples) % num_classes
    x = torch.empty(num_samples, channels, image_size, image_size, dtype=torch.uint8)
    for start in range(0, num_samples, _CHUNK):
        labels = y[start:start + _CHUNK]
        sample = patterns[labels] + noise * torch.randn(len(labels), *patterns.shape[1:], generator=generator)
        x[start:start + _CHUNK] = (128 + 40 * sample).round().clamp(0, 255).to(torch.uint8)
    if shape == "vector":
        x = x.flatten(1).float()
    train, val, test = carve(TensorDataset(x, y), (val_fraction, test_fraction), split_seed)
    return Splits(train, val, test, [f"class_{i}" for i in range(num_classes)])
