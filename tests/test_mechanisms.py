"""The mechanisms instruments on known answers (lesions, path lengths, signal propagation, shattered gradients,
CKA), then a real tiny run with every instrument on and scripts/mechanisms.py on its folder."""
import csv
import json
import math
import shutil
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from conftest import ROOT
from reslab.config import validate
from reslab.errors import ConfigError
from reslab.mechanisms import cka, lesion, paths, shattered, signal
from reslab.mechanisms.common import residual_blocks
from reslab.models.blocks import ResidualBlock
from reslab.models.network import ResidualNet, build_model
from reslab.sweep import load_sweep
from reslab.sweep.mechanisms import mechanisms_section
from reslab.run import run

FAST = ("depth=8", "epochs=1", "logger=none", "diagnostics=off", "trainer.accelerator=cpu", "width=4")


def conv_net(block="plain", **options) -> nn.Module:
    torch.manual_seed(0)
    return build_model(block, 8, 4, (1, 8, 8), 3, **options).eval()


def data(n=16, shape=(1, 8, 8), classes=3):
    generator = torch.Generator().manual_seed(1)
    return torch.randn(n, *shape, generator=generator), torch.randint(0, classes, (n,), generator=generator)


def linear_net(blocks=3, width=5, classes=4) -> ResidualNet:
    """x -> n blocks x + W_i x (no nonlinearity, no norm) -> linear head: every path is a product of matrices."""
    torch.manual_seed(0)
    stages = [nn.Sequential(*(ResidualBlock(nn.Sequential(nn.Linear(width, width, bias=False)), nn.Identity(),
                                            post=nn.Identity()) for _ in range(blocks)))]
    return ResidualNet(nn.Identity(), stages, nn.Linear(width, classes), [width]).eval()


# --- lesions --------------------------------------------------------------------------------------------------
def test_a_net_whose_branches_are_zero_is_unchanged_by_any_lesion():
    net = conv_net(zero_init_residual=True)  # the last BN of every branch has gamma = 0 (and beta = 0): F = 0
    x, y = data()
    intact = net(x)
    blocks = residual_blocks(net)
    for chosen in ([blocks[0]], [blocks[1]], blocks[1:], blocks):
        with lesion.lesioned(chosen):
            assert torch.allclose(net(x), intact, atol=1e-6)
    rows = lesion.lesion_study(net, [(x, y)], draws=2, reorder=False)
    assert {row["error"] for row in rows} == {rows[0]["error"]}


def test_deleting_one_block_of_a_two_block_net_is_the_hand_computed_forward():
    for block in ("plain", "noshortcut"):
        torch.manual_seed(0)
        net = build_model(block, 6, 4, (5,), 3).eval()  # residual MLP: stem, two blocks, head
        x = torch.randn(8, 5)
        first, second = net.stages[0]
        with lesion.lesioned([first]):
            got = net(x)
        h = net.stem(x)
        # with a shortcut: post(merge(0, S(h))) = relu(h); without: the identity
        expected = net.head(second(torch.relu(h) if block == "plain" else h))
        assert torch.allclose(got, expected, atol=1e-6), block
        with lesion.lesioned([second]):
            got = net(x)
        h = first(net.stem(x))
        assert torch.allclose(got, net.head(torch.relu(h) if block == "plain" else h), atol=1e-6), block
        assert torch.allclose(net(x), net.head(second(first(net.stem(x)))))  # the hooks are gone


def test_no_shortcut_blocks_that_change_the_shape_cannot_be_deleted_and_reordering_is_undone():
    net = conv_net("noshortcut")
    x, y = data()
    shapes = lesion.block_shapes(net, x)
    assert [lesion.removable(b, s) for b, s in zip(residual_blocks(net), shapes)] == [True, False, False]
    rows = lesion.lesion_study(net, [(x, y)], draws=1)
    single = [row["error"] for row in rows if row["kind"] == "single"]
    assert math.isfinite(single[0]) and math.isnan(single[1]) and math.isnan(single[2])
    deeper = build_model("plain", 20, 4, (1, 8, 8), 3).eval()  # three blocks per stage: the last two same-shape
    before = deeper(x)
    with lesion.reordered(deeper, [0, 2, 1, 3, 4, 5, 6, 7, 8]):  # stage 1's last two blocks swapped
        assert not torch.allclose(deeper(x), before)
    assert torch.equal(deeper(x), before)


# --- gradient by path length ----------------------------------------------------------------------------------
def test_path_gradients_for_k_0_and_k_n_and_their_sum_over_all_paths():
    net = linear_net()
    x, y = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 0, 1])
    weights = [b.branch[0].weight for b in residual_blocks(net)]
    out = x.clone()
    for w in weights:
        out = out + out @ w.T
    upstream = (torch.softmax(net.head(out), 1) - F.one_hot(y, 4)) @ net.head.weight  # dL/d(final stream)
    # k = 0: only shortcuts, so the input receives the final stream's gradient unchanged
    assert torch.allclose(paths.path_gradient(net, x, y, []), upstream, atol=1e-5)
    # k = n: only branches: the gradient through W_3 W_2 W_1
    through_all = upstream @ weights[2] @ weights[1] @ weights[0]
    assert torch.allclose(paths.path_gradient(net, x, y, [0, 1, 2]), through_all, atol=1e-5)
    # the 2^n paths of every length together are the full gradient (linear net: exactly)
    total = sum(paths.path_gradient(net, x, y, [i for i in range(3) if mask >> i & 1]) for mask in range(8))
    assert torch.allclose(total, paths.full_gradient(net, x, y), atol=1e-5)


def test_shares_weigh_each_length_by_its_number_of_paths_and_the_carrying_range():
    assert paths.shares([1.0, 1.0, 1.0]) == [0.25, 0.5, 0.25]  # C(2, k) / 4
    assert paths.carrying([0.05, 0.5, 0.4, 0.05], 0.9) == (1, 2)
    assert paths.carrying([0.0, 0.0, 1.0], 0.9) == (2, 2)
    with pytest.raises(ValueError, match="one path"):
        paths.path_gradient(conv_net("noshortcut"), *data(), [])


# --- signal propagation ---------------------------------------------------------------------------------------
def test_signal_propagation_of_a_hand_built_stream():
    x = torch.tensor([[[[1.0]], [[0.0]]], [[[3.0]], [[0.0]]]])  # (2, 2, 1, 1): channel 0 is 1, 3; channel 1 is 0
    assert signal.channel_stats(x) == (2.0, 0.5)  # mean of (2^2, 0^2); mean of (1, 0)
    # three blocks x + x (branch = identity, nothing after the sum): the stream doubles, its statistics x4
    doubling = ResidualNet(nn.Identity(), [nn.Sequential(*(ResidualBlock(nn.Identity(), nn.Identity(),
                                                                           post=nn.Identity()) for _ in range(3)))],
                           nn.Flatten(), [2])
    rows = signal.signal_propagation(doubling, x)
    assert [(r["stream_sq_mean"], r["stream_var"]) for r in rows] == [(2.0 * 4**i, 0.5 * 4**i) for i in range(4)]
    assert [r["ratio"] for r in rows[1:]] == [1.0, 1.0, 1.0]
    # SkipInit's start (alpha = 0): the branch adds nothing, the stream stays as it entered
    skip = ResidualNet(nn.Identity(), [nn.Sequential(*(ResidualBlock(nn.Identity(), nn.Identity(), "weighted",
                                                                       alpha=0.0, post=nn.Identity())
                                                         for _ in range(2)))], nn.Flatten(), [2])
    rows = signal.signal_propagation(skip, x)
    assert [r["stream_var"] for r in rows] == [0.5] * 3 and [r["ratio"] for r in rows[1:]] == [0.0, 0.0]


def test_signal_propagation_leaves_the_batchnorm_statistics_as_they_were():
    net = conv_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    signal.signal_propagation(net, data()[0])
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and not net.training


# --- shattered gradients --------------------------------------------------------------------------------------
def test_gradient_autocorrelation_of_a_linear_model_is_one_everywhere():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    x, _ = data(2)
    grads = shattered.line_gradients(model, x[0], x[1], points=32)
    rows = shattered.autocorrelation(grads, max_lag=16)
    assert [row["lag"] for row in rows] == list(range(17))
    assert all(abs(row["corr"] - 1) < 1e-9 for row in rows)


def test_white_noise_gradients_decorrelate_and_bn_points_are_independent():
    noise = torch.randn(512, 64, generator=torch.Generator().manual_seed(0))
    rows = shattered.autocorrelation(noise, max_lag=4)
    assert rows[0]["corr"] == pytest.approx(1) and all(abs(row["corr"]) < 0.1 for row in rows[1:])
    net = conv_net()
    x, _ = data(34)
    whole = shattered.line_gradients(net, x[0], x[1], points=16, calibration=x[2:])
    half = shattered.line_gradients(net, x[0], x[0] + (x[1] - x[0]) * 7 / 15, points=8, calibration=x[2:])
    assert torch.allclose(whole[:8], half, atol=1e-5)  # each point's gradient is its own, whatever else is in the batch


# --- CKA ------------------------------------------------------------------------------------------------------
def test_cka_is_one_on_itself_and_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 20, generator=generator, dtype=torch.float64)
    y = torch.randn(60, 12, generator=generator, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=generator, dtype=torch.float64))
    assert abs(cka.linear_cka(x, x) - 1) < 1e-6
    assert abs(cka.linear_cka(x, x @ q) - 1) < 1e-6 and abs(cka.linear_cka(x, 3.7 * x) - 1) < 1e-6
    assert abs(cka.linear_cka(x, y) - cka.linear_cka(x @ q, 0.2 * y)) < 1e-6
    assert cka.linear_cka(x, y) < 0.6  # unrelated features are not similar
    batches = [[x[:30], x[:30] @ q, 3.7 * x[:30], y[:30]], [x[30:], x[30:] @ q, 3.7 * x[30:], y[30:]]]
    matrix = cka.minibatch_cka(batches)
    assert torch.allclose(matrix[:3, :3], torch.ones(3, 3, dtype=torch.float64), atol=1e-6)
    assert abs(float(matrix[0, 3])) < 0.2  # the unbiased estimator: near 0 for independent features


def test_block_structure_counts_the_largest_run_of_similar_neighbours():
    m = torch.eye(5, dtype=torch.float64)
    m[1:4, 1:4] = 0.95
    m.fill_diagonal_(1)
    assert cka.block_structure(m, 0.9) == 3 and cka.block_structure(torch.eye(4), 0.9) == 1


# --- a real run and the script --------------------------------------------------------------------------------
def test_a_tiny_run_with_every_instrument_and_the_script_on_its_folder(make_cfg, tmp_path):
    cfg = make_cfg(*FAST, "mechanisms=full", "callbacks.mechanisms.lesion.draws=2",
                   "callbacks.mechanisms.path_length.samples=1", "callbacks.mechanisms.shattered.lines=1",
                   "callbacks.mechanisms.shattered.points=32", "callbacks.mechanisms.shattered.max_lag=8")
    validate(cfg)
    run_dir = tmp_path / "run"
    metrics = run(cfg, run_dir)
    names = ("signal", "shattered", "lesion", "path_length", "cka")
    assert {f"{n}.{ext}" for n in names for ext in ("csv", "png")} <= {p.name for p in run_dir.iterdir()}
    assert set(json.loads((run_dir / "mechanisms_seconds.json").read_text())) == set(names)
    assert not any(key.endswith("/seconds") for key in metrics if key.split("/")[0] in names)  # a rerun's equal
    assert 0 <= metrics["lesion/error_intact"] <= metrics["lesion/error_k_half"] + 1e-9 <= 1.0 + 1e-9
    assert 0 <= metrics["path_length/lo"] <= metrics["path_length/hi"] <= metrics["path_length/blocks"] == 3
    assert metrics["signal/stream_var_growth"] > 0 and -1 <= metrics["shattered/neighbour_corr"] <= 1
    assert 0 < metrics["cka/adjacent_mean"] <= 1 + 1e-9
    with open(run_dir / "cka.csv") as file:
        assert len(list(csv.DictReader(file))) == 9  # 3 x 3 blocks
    # the script on the finished folder: the same numbers from the checkpoint and the rebuilt initialisation
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    (run_dir / "signal.csv").unlink()
    out = subprocess.run([sys.executable, "scripts/mechanisms.py", str(run_dir), "--only", "signal,lesion"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    again = json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / "signal.csv").is_file()
    assert again["lesion/error_intact"] == metrics["lesion/error_intact"]  # best checkpoint = the tested weights
    assert again["signal/stream_var_growth"] == pytest.approx(metrics["signal/stream_var_growth"], rel=1e-5)
    # the sweep side: two "seeds" of this run in a sweep folder -> the overlay figures and the section
    for seed in (0, 1):
        job = tmp_path / "sweep" / f"seed={seed}"
        shutil.copytree(run_dir, job, ignore=shutil.ignore_patterns("checkpoints"))
        (job / ".hydra" / "overrides.yaml").write_text(f"- model=plain\n- seed={seed}\n")
    md, page, figures = mechanisms_section(load_sweep(tmp_path / "sweep"))
    assert set(figures) == {"mech_lesion.png", "mech_path_length.png", "mech_signal.png", "mech_shattered.png",
                            "mech_cka.png"}
    assert all((tmp_path / "sweep" / name).stat().st_size > 5000 for name in figures)
    assert "## Mechanisms" in md and "| all jobs | 2 |" in md and page.count("<img") == 5


def test_mechanisms_are_off_by_default_init_measures_at_init_and_bad_settings_raise_one_line(make_cfg):
    assert "mechanisms" not in make_cfg().callbacks
    spec = make_cfg("mechanisms=init").callbacks.mechanisms
    assert spec.signal and spec.shattered and spec.lesion is None and spec.path_length is None and spec.cka is None
    with pytest.raises(ConfigError, match="callbacks.mechanisms.lesion.draws=0"):
        validate(make_cfg("mechanisms=full", "callbacks.mechanisms.lesion.draws=0"))
