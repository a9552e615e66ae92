"""At the end of training: the curvature of the final weights on a training subset -> metrics.json curvature/*."""
import lightning as L

from reslab.callbacks.blocks import MeasuredOnce
from reslab.landscape.hessian import curvature
from reslab.landscape.surface import batches, training_subset


class Curvature(MeasuredOnce):
    """At the end of training: the curvature figures of the final weights on a training subset -> metrics.json."""

    def __init__(self, samples: int = 512, iterations: int = 100, tolerance: float = 1e-3, min_eigenvalue: bool = True,
                 seed: int = 0):
        self.samples, self.iterations, self.tolerance = samples, iterations, tolerance
        self.min_eigenvalue, self.seed = min_eigenvalue, seed
        super().__init__()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        x, y = training_subset(trainer.datamodule, self.samples, self.seed)
        data = batches(x, y, pl_module.device, pl_module.channels_last)
        self.result = curvature(pl_module.model, data, self.iterations, self.tolerance,
                                self.seed, self.min_eigenvalue)

