"""What a network costs: parameters, forward FLOPs per sample and each stage's output shape."""
import torch
from torch.utils.flop_counter import FlopCounterMode


def describe(model, input_shape) -> dict:
    """{"params", "flops" (one sample's forward pass), "stages": [(name, output shape), ...]}.

    Runs one sample through `model` in eval mode (restored afterwards) on the model's device; `model` needs
    `stem`, `stages` and `head` (every reslab network has them).
    """
    device = next(model.parameters()).device
    x = torch.zeros(1, *input_shape, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            x = model.stem(x)
            stages = [("stem", tuple(x.shape[1:]))]
            for i, stage in enumerate(model.stages, start=1):
                x = stage(x)
                stages.append((f"stage{i}", tuple(x.shape[1:])))
            stages.append(("logits", tuple(model.head(x).shape[1:])))
    finally:
        model.train(was_training)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "flops": counter.get_total_flops(),
        "stages": stages,
    }
