"""scripts/export.py: trained networks written as TorchScript / ONNX give the same outputs as in PyTorch."""
import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import ROOT
from reslab.errors import UsageError
from reslab.export import export, load_classifier, load_detector
from reslab.run import run

FAST = ("depth=8", "epochs=1", "logger=none", "diagnostics=off", "trainer.accelerator=cpu")
SYNTHETIC = ("dataset=synthetic", "dataset.num_samples=64", "dataset.image_size=8")


def _run_folder(folder, *overrides):
    """A real one-epoch run folder with its .hydra/config.yaml, as `python train.py` leaves it."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*FAST, *overrides])
    run(cfg, folder)
    (folder / ".hydra").mkdir()
    OmegaConf.save(cfg, folder / ".hydra" / "config.yaml")
    return folder


# plain and csp, and shortcut designs whose eval mode differs from training (gates, stochastic depth, the dropout
# shortcut, pre-activation's shared BN-ReLU, Fixup's scalars): a representative subset, to keep the suite fast
@pytest.fixture(scope="module", params=["plain", "csp", "highway", "fixup",
                                        "preact model.drop_path=0.5 model.shortcut_op=dropout"])
def classifier_run(request, tmp_path_factory):
    return _run_folder(tmp_path_factory.mktemp(request.param.split()[0]), *f"model={request.param}".split(),
                       *SYNTHETIC)


def test_torchscript_classifier_gives_the_pytorch_logits(classifier_run):
    path = export(classifier_run, "torchscript")
    assert path == classifier_run / "checkpoints" / "best.torchscript.pt"
    network, x = load_classifier(classifier_run)
    exported = torch.jit.load(str(path))
    x = torch.cat([x, x.flip(0)])  # another batch size than the one traced
    with torch.no_grad():
        torch.testing.assert_close(exported(x), network(x), atol=1e-4, rtol=0)


def test_onnx_classifier_gives_the_pytorch_logits(classifier_run):
    onnxruntime = pytest.importorskip("onnxruntime", reason="ONNX export check needs onnxruntime (reslab[export])")
    path = export(classifier_run, "onnx")
    assert path == classifier_run / "checkpoints" / "best.onnx"
    network, x = load_classifier(classifier_run)
    x = torch.cat([x, x[:3]])  # another batch size than the example
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(logits), network(x), atol=1e-4, rtol=0)


def test_torchscript_detector_gives_the_pytorch_detections(tmp_path):
    folder = _run_folder(tmp_path, "task=detection", "width=8", "batch_size=8", "dataset.image_size=32",
                         "dataset.num_samples=24", "task.score_threshold=0")
    path = export(folder, "torchscript")
    detector, _ = load_detector(folder)
    images = [torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.rand(3, 40, 36)]
    with torch.no_grad():
        _, scripted = torch.jit.load(str(path))(images)
        expected = detector(images)
    assert len(expected[0]["boxes"]) > 0
    for found, want in zip(scripted, expected):
        for key in ("boxes", "scores", "labels"):
            torch.testing.assert_close(found[key], want[key], atol=1e-4, rtol=0)
    with pytest.raises(UsageError, match="ONNX export of a detector is not supported"):
        export(folder, "onnx")


@pytest.mark.slow  # a subprocess importing torch: the in-process tests cover the message
def test_export_py_rejects_a_folder_that_is_no_run_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "scripts/export.py", str(tmp_path), "--format", "onnx"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {tmp_path} has no .hydra/config.yaml: pass the folder of a `python train.py` run"
