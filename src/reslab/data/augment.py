"""On-device augmentation and normalisation of uint8 image batches: pure tensor functions, one batched op each."""
import torch
import torch.nn.functional as F
from torch import Tensor


def crop_flip(images: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """Random crop of each image out of its zero-padded copy, then a random horizontal flip (probability 1/2).

    One gather over the whole batch: each output pixel reads padded[n, :, dy + i, dx + j] (j mirrored when flipped).
    The result has the input's shape and dtype in channels_last memory layout; the same generator state gives
    the same output. The generator must live on the images' device.
    """
    n, _, h, w = images.shape
    device = images.device
    dy, dx = torch.randint(0, 2 * padding + 1, (2, n, 1), generator=generator, device=device)
    flip = torch.randint(0, 2, (n, 1), generator=generator, device=device, dtype=torch.bool)
    cols = torch.arange(w, device=device)
    cols = torch.where(flip, cols.flip(0), cols) + dx
    rows = torch.arange(h, device=device) + dy
    batch = torch.arange(n, device=device)[:, None, None]
    padded = F.pad(images, (padding, padding, padding, padding))
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def normalize(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """uint8 images -> float32 (images / 255 - mean) / std, per channel; mean and std are in [0, 1] units."""
    scale = (1 / (255 * std)).view(-1, 1, 1)
    shift = (mean / std).view(-1, 1, 1)
    return images.float().mul_(scale).sub_(shift)


def channel_stats(images: Tensor) -> tuple[Tensor, Tensor]:
    """Exact per-channel mean and std (in [0, 1] units, float32) of uint8 NCHW images, from 256-bin histograms:
    no float copy of the whole set."""
    counts = torch.stack([torch.bincount(images[:, c].reshape(-1), minlength=256)
                          for c in range(images.shape[1])]).double()
    values = torch.arange(256, dtype=torch.float64, device=images.device) / 255
    total = counts.sum(1)
    mean = counts @ values / total
    var = counts @ values.square() / total - mean.square()
    return mean.float(), var.clamp_min(0).sqrt().float()


def standardize(train: Tensor, *others: Tensor) -> list[Tensor]:
    """Feature vectors scaled by the training split's per-feature mean and std (constant features: std 1)."""
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return [(x - mean) / std for x in (train, *others)]
