"""Recipe (docs/extending.md): a callback of your own. Counts the training epochs; a callback's `summary()` adds
its keys to the run's metrics.json."""
import lightning as L


class CountEpochs(L.Callback):
    def __init__(self, key: str = "epochs_seen"):
        self.key, self.epochs = key, 0

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs += 1

    def summary(self) -> dict:
        return {self.key: self.epochs}
