"""Data sets shipped inside scikit-learn (no network): digits as 8x8 images or 64-feature vectors, wine,
breast cancer. Imported only when one of them is loaded (its catalogue entry names this module): sklearn costs
~0.5 s of start-up."""
import torch
from sklearn import datasets
from torch.utils.data import TensorDataset

from reslab.data.splits import Splits, carve


def load(name: str, val_fraction: float, test_fraction: float, split_seed: int) -> Splits:
    """`digits`: 1x8x8 uint8 images (0..16 scaled to 0..255); `digits_flat`, `wine`, `breast_cancer`: float32
    feature vectors (standardised later, on the training split)."""
    loader = {"digits": datasets.load_digits, "digits_flat": datasets.load_digits,
              "wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}[name]
    bunch = loader()
    if name == "digits":
        x = torch.from_numpy(bunch.images * (255 / 16)).round().to(torch.uint8).unsqueeze(1)
    else:
        x = torch.from_numpy(bunch.data).float()
    y = torch.from_numpy(bunch.target).long()
    train, val, test = carve(TensorDataset(x, y), (val_fraction, test_fraction), split_seed)
    return Splits(train, val, test, [str(c) for c in bunch.target_names])
