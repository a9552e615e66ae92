"""The default `python train.py` recipe as a bare PyTorch script: the yardstick for the whole job's wall time.

    python scripts/bare_train.py                # ResNet-20 on digits, 30 epochs: prints test accuracy and seconds

Same work as the default job, written plainly: scikit-learn's digits split 70/10/20 with split seed 0, images
normalised by the training split's per-channel mean and std, reslab's ResNet-20 network (the only reslab import,
plain torch modules) in channels_last, fused Nesterov SGD (lr 0.1, momentum 0.9, weight decay 5e-4 on weights
only), 3 epochs of linear warm-up from lr/10 then cosine to 0 stepped every batch, batches of 128 (the last partial
one dropped), a validation pass every epoch, the weights of the best validation accuracy kept and tested at the
end; torch threads = the cores this process may use, denormals flushed. What it leaves out is what reslab adds:
Hydra, Lightning, checkpoints on disk, TensorBoard, history and diagnostics.
Compare whole processes, start-up included, several runs each, taking medians (README "Speed").
"""
import copy
import os
import time

START = time.perf_counter()

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from torch import nn  # noqa: E402
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR  # noqa: E402

from reslab.models.network import build_model  # noqa: E402

EPOCHS, BATCH, LR, MOMENTUM, WEIGHT_DECAY, WARMUP_EPOCHS = 30, 128, 0.1, 0.9, 5e-4, 3


def splits(seed: int = 0):
    bunch = load_digits()
    x = torch.from_numpy(bunch.images * (255 / 16)).round().to(torch.uint8).unsqueeze(1)
    y = torch.from_numpy(bunch.target).long()
    n = len(x)
    val, test = round(0.1 * n), round(0.2 * n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    parts = order.split([n - val - test, val, test])
    return [(x[idx], y[idx]) for idx in parts]


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum((model(x[i:i + BATCH]).argmax(1) == y[i:i + BATCH]).sum().item()
                      for i in range(0, len(x), BATCH))
    return correct / len(x)


def main() -> None:
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = splits()
    pixels = x_train.float().div(255)
    mean, std = pixels.mean((0, 2, 3), keepdim=True), pixels.std((0, 2, 3), keepdim=True)
    prep = lambda x: ((x.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)  # noqa: E731
    x_train, x_val, x_test = prep(x_train), prep(x_val), prep(x_test)

    model = build_model("plain", 20, None, (1, 8, 8), 10).to(memory_format=torch.channels_last)
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0}],
                                lr=LR, momentum=MOMENTUM, nesterov=True, fused=True)
    steps = len(x_train) // BATCH
    warmup, total = WARMUP_EPOCHS * steps, EPOCHS * steps
    ramp, cosine = LinearLR(optimizer, 0.1, 1.0, warmup), CosineAnnealingLR(optimizer, total - warmup)
    schedule = SequentialLR(optimizer, [ramp, cosine], milestones=[warmup])
    loss_fn, best, best_state = nn.CrossEntropyLoss(), -1.0, None
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(x_train))
        for i in range(steps):
            idx = order[i * BATCH:(i + 1) * BATCH]
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        val = accuracy(model, x_val, y_val)
        if val > best:
            best, best_state = val, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    print(f"test/acc {accuracy(model, x_test, y_test):.4f}  best val/acc {best:.4f}  "
          f"{time.perf_counter() - START:.1f} s in the process (start-up included)")


if __name__ == "__main__":
    main()
