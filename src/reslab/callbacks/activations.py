"""Signal propagation at initialisation: the std of every residual block's output."""
import lightning as L
import torch

from reslab.callbacks.blocks import residual_blocks
from reslab.models.network import ResidualNet


class ActivationStats(L.Callback):
    """The std of every residual block's output at initialisation: the signal-propagation view.

    Measured before the first training step by an extra forward pass of the first batch in training mode
    (BatchNorm uses the batch's statistics, as in training); BatchNorm running statistics and the RNG are
    restored afterwards, so the run itself is unchanged.
    """

    def __init__(self):
        self.act_std: list[float] | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        model = pl_module.model
        if self.act_std is not None or not isinstance(model, ResidualNet):  # once, on reslab nets
            return
        stds = []
        hooks = [block.register_forward_hook(lambda module, args, out: stds.append(out.detach().float().std()))
                 for _, block in residual_blocks(model)]
        saved = {name: buffer.clone() for name, buffer in model.named_buffers()}
        cuda = [pl_module.device] if pl_module.device.type == "cuda" else []
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=cuda):
                model(batch[0])
        finally:
            for hook in hooks:
                hook.remove()
            for name, buffer in model.named_buffers():
                buffer.copy_(saved[name])
        self.act_std = torch.stack(stds).tolist() if stds else []

    def state_dict(self):
        return {"act_std": self.act_std}

    def load_state_dict(self, state_dict):
        self.act_std = state_dict["act_std"]

    def summary(self) -> dict:
        return {} if self.act_std is None else {"act_std": self.act_std}
