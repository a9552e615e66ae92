"""Loss landscapes and curvature: filter-normalised directions, the grid's centre, power iteration against an
explicit Hessian, the PNGs, the landscape=on callback and the script on a real (tiny) run folder."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from PIL import Image
from torch import nn
from torch.func import functional_call

from conftest import ROOT
from reslab.errors import ConfigError
from reslab.config import validate
from reslab.landscape.hessian import KEYS, hessian_extremes
from reslab.landscape.plots import plot_panel, plot_run
from reslab.landscape.run import read_landscape
from reslab.landscape.surface import batches, evaluate, loss_surface, random_directions
from reslab.run import run

FAST = ("depth=8", "epochs=1", "logger=none", "diagnostics=off", "trainer.accelerator=cpu")


def tiny_conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()


def tiny_data(n: int = 24) -> list:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(n, 1, 4, 4, generator=generator)
    return batches(x, torch.randint(0, 3, (n,), generator=generator), "cpu")


def test_directions_are_filter_normalised_with_zero_bn_and_bias():
    model = tiny_conv_net()
    first, second = random_directions(model, 2, seed=3)
    for p, d in zip(model.parameters(), first):
        if p.dim() > 1:
            torch.testing.assert_close(d.flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1))
        else:  # BatchNorm weight/bias, linear bias
            assert not d.any()
    assert not torch.equal(first[0], second[0])
    again = random_directions(model, 2, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first + second, again[0] + again[1]))


def test_grid_centre_is_the_models_loss_and_weights_are_restored():
    model, data = tiny_conv_net(), tiny_data()
    before = [p.clone() for p in model.parameters()]
    coords = np.linspace(-1, 1, 5)
    loss, acc = loss_surface(model, data, random_directions(model, 2, seed=0), coords)
    assert loss.shape == acc.shape == (5, 5)
    assert loss[2, 2] == pytest.approx(evaluate(model, data)[0], rel=1e-6)
    assert loss.max() > loss[2, 2]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    line, _ = loss_surface(model, data, random_directions(model, 1, seed=0), coords)
    assert line[2] == pytest.approx(loss[2, 2], rel=1e-6)


def test_power_iteration_matches_the_explicit_hessian():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    x, y = torch.randn(32, 3, dtype=torch.float64), torch.randint(0, 3, (32,))
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(vector):
        params = dict(zip(names, (part.view(s) for part, s in zip(vector.split([s.numel() for s in shapes]), shapes))))
        return F.cross_entropy(functional_call(model, params, (x,)), y)

    eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat))
    top, bottom = hessian_extremes(model, [(x[:20], y[:20]), (x[20:], y[20:])], iterations=400, tolerance=1e-7)
    assert top == pytest.approx(eigenvalues[-1].item(), rel=1e-4)
    assert bottom == pytest.approx(eigenvalues[0].item(), rel=1e-3, abs=1e-6)


def test_pngs_are_valid_images(tmp_path):
    model, data = tiny_conv_net(), tiny_data()
    coords = np.linspace(-1, 1, 5)
    results = {}
    for dims in (1, 2):
        loss, acc = loss_surface(model, data, random_directions(model, dims, seed=0), coords)
        info = {"curvature/lambda_max": 1.5, "curvature/convexity_ratio": 0.1}
        results[dims] = {"coords": coords, "loss": loss, "acc": acc, "info": info}
    written = plot_run(results[2], tmp_path, "tiny") + plot_run(results[1], tmp_path, "tiny")
    written.append(plot_panel({("depth=8", "model=plain"): results[2], ("depth=8", "model=noshortcut"): results[2]},
                              tmp_path / "panel.png"))
    assert [p.name for p in written] == ["landscape_contour.png", "landscape_surface.png", "landscape_line.png",
                                         "panel.png"]
    for path in written:
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG" and min(image.size) > 100


def test_landscape_on_writes_curvature_to_metrics(make_cfg, tmp_path):
    cfg = make_cfg(*FAST, "landscape=on", "callbacks.curvature.samples=64", "callbacks.curvature.iterations=5")
    metrics = run(cfg, tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert set(KEYS) <= set(saved)
    assert saved["curvature/lambda_max"] == metrics["curvature/lambda_max"] > 0
    assert saved["curvature/lambda_min"] <= saved["curvature/lambda_max"]
    assert 0 <= saved["curvature/convexity_ratio"] and math.isfinite(saved["curvature/train_loss"])


def test_landscape_is_off_by_default_and_bad_settings_raise_one_line(make_cfg):
    assert "curvature" not in make_cfg().callbacks
    with pytest.raises(ConfigError, match="callbacks.curvature.samples=0"):
        validate(make_cfg("landscape=on", "callbacks.curvature.samples=0"))


def test_script_on_a_real_run_folder_and_its_sweep_panel(make_cfg, tmp_path):
    run_dir = tmp_path / "model=plain"
    run(make_cfg(*FAST), run_dir)
    (run_dir / ".hydra").mkdir()  # what `python train.py` writes next to the run
    OmegaConf.save(make_cfg(*FAST), run_dir / ".hydra" / "config.yaml")
    (run_dir / ".hydra" / "overrides.yaml").write_text("- model=plain\n")
    command = [sys.executable, "scripts/landscape.py", str(run_dir), "--points", "3", "--samples", "64",
               "--hessian-samples", "32", "--iterations", "3"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = read_landscape(run_dir / "landscape.npz")
    assert result["loss"].shape == (3, 3)
    info = json.loads((run_dir / "landscape.json").read_text())
    assert info["curvature/lambda_max"] > 0 and info["settings"]["samples"] == 64
    assert {"landscape_contour.png", "landscape_surface.png"} <= {p.name for p in run_dir.iterdir()}
    main_of_script(str(tmp_path), *command[3:])  # the sweep folder holding it: the landscape is reused
    assert (tmp_path / "landscape_panel.png").is_file()


def test_script_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main_of_script(str(tmp_path / "nowhere"))
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and error.startswith("error:") and len(error.splitlines()) == 1


def main_of_script(*args: str) -> None:
    """scripts/landscape.py run in this process (no second torch import)."""
    import runpy
    from unittest.mock import patch

    with patch.object(sys, "argv", ["landscape.py", *args]):
        runpy.run_path(str(ROOT / "scripts" / "landscape.py"), run_name="__main__")
