"""Recipe (docs/extending.md): a data set of your own in one module. Images of horizontal or vertical stripes with
pixel noise, two classes, generated from a seed; `conf/dataset/stripes.yaml` holds its options."""
import torch
from torch.utils.data import TensorDataset

from reslab.config.rules import integer
from reslab.data.catalog import register_dataset
from reslab.data.splits import Splits, carve


@register_dataset("stripes", rules={"period": integer(2)})
def load(image_size: int, period: int, num_samples: int, noise: float, val_fraction: float, test_fraction: float,
         split_seed: int) -> Splits:
    """uint8 images (1, image_size, image_size): class 0 horizontal stripes, class 1 vertical ones."""
    g = torch.Generator().manual_seed(split_seed)
    rows = (torch.arange(image_size) // (period // 2) % 2).float()[:, None].expand(image_size, image_size)
    y = torch.arange(num_samples) % 2
    clean = torch.where(y[:, None, None] == 0, rows, rows.T)
    x = (255 * (clean + noise * torch.randn(num_samples, image_size, image_size, generator=g))).clamp(0, 255)
    data = TensorDataset(x.round().to(torch.uint8).unsqueeze(1), y)
    train, val, test = carve(data, (val_fraction, test_fraction), split_seed)
    return Splits(train, val, test, ["horizontal", "vertical"])
