"""Take a trained network out of reslab: rebuild it from a run folder (`.hydra/config.yaml` + its best, else last,
checkpoint) and write it next to the checkpoint as TorchScript or ONNX.

Exported classifiers take images normalised as in training (the data set's channel mean/std) and return logits;
exported detectors take a list of float images in [0, 1] (any size) and return torchvision's
`(losses, detections)` pair, detections being one {"boxes", "labels", "scores"} dict per image.
"""
import copy
import importlib.util
from pathlib import Path

import torch
from torch import nn

from reslab.checkpoint_files import choose, load_run
from reslab.config.resume import saved_config
from reslab.errors import UsageError

FORMATS = ("torchscript", "onnx")
SUFFIXES = {"torchscript": ".torchscript.pt", "onnx": ".onnx"}


def load_detector(run_dir: Path) -> tuple[nn.Module, list[str]]:
    """The trained detector of a task=detection run (eval mode) and its class names (labels 1..K)."""
    cfg, _, task, _ = load_run(run_dir)
    if cfg.task.name != "detection":
        raise UsageError(f"{run_dir} is a task={cfg.task.name} run: detection needs a task=detection run")
    return task.model.eval(), list(task.hparams.class_names)


def load_classifier(run_dir: Path) -> tuple[nn.Module, torch.Tensor]:
    """The trained network of a classification run (eval mode) and a normalised validation batch for it
    (the network's input shape and normalisation come from the data set, which is loaded for this)."""
    _, data, task, _ = load_run(run_dir)
    x, _ = data.on_after_batch_transfer(next(iter(data.val_dataloader())), 0)
    return task.model.eval(), x[:8].contiguous()


def _script_detector(detector: nn.Module, image_size: int) -> torch.jit.ScriptModule:
    """torchvision's detection models script as they are; reslab's blocks don't (their merge rule is chosen
    at run time), so the backbone body is traced first: its graph has no data-dependent control flow."""
    detector = copy.deepcopy(detector)
    example = torch.rand(1, 3, image_size, image_size)
    detector.backbone.body = torch.jit.trace_module(detector.backbone.body, {"forward_stages": example})
    return torch.jit.script(detector)


def export(run_dir: Path, fmt: str) -> Path:
    """Write the run's network as `fmt` next to its checkpoint; returns the written file."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is invalid: choose one of {', '.join(FORMATS)}")
    cfg = saved_config(run_dir)
    out = choose(run_dir).with_suffix(SUFFIXES[fmt])
    if cfg.task.name == "detection":
        if fmt == "onnx":
            raise UsageError("ONNX export of a detector is not supported: use --format torchscript")
        detector, _ = load_detector(run_dir)
        _script_detector(detector, cfg.dataset.image_size).save(str(out))
        return out
    network, x = load_classifier(run_dir)
    if fmt == "torchscript":
        with torch.no_grad():
            torch.jit.trace(network, x).save(str(out))
        return out
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"ONNX export needs {' and '.join(missing)}: pip install 'reslab[export]'")
    torch.onnx.export(network, (x,), str(out), input_names=["images"], output_names=["logits"],
                      dynamic_shapes=({0: "batch"},), dynamo=True, verbose=False)
    return out
