"""The shortcut-design atlas: each design's formula on a tiny input (branch and shortcut evaluated separately),
its layers, its initialisation and its parameter count against the papers."""
import math

import pytest
import torch
from torch import nn

from reslab.models.blocks import ResidualBlock
from reslab.models.layers import DropPath, ScalarBias, ScalarScale, ShortcutDropout, ZeroPadShortcut
from reslab.models.network import build_model
from reslab.models.options import ORDERS, SHORTCUT_OPS


def net(block="plain", depth=20, width=8, shape=(3, 8, 8), **options):
    torch.manual_seed(0)
    return build_model(block, depth, width, shape, 10, **options)


def blocks(model) -> list[ResidualBlock]:
    return [m for m in model.modules() if isinstance(m, ResidualBlock)]


def inner(model) -> ResidualBlock:
    """A block of stage 2 that keeps the shape (16 channels at 4x4 for width 8 on 8x8 images), in eval mode."""
    return model.stages[1][1].eval()


def x16(nonnegative=False) -> torch.Tensor:
    x = torch.randn(4, 16, 4, 4, generator=torch.Generator().manual_seed(1))
    return x.abs() if nonnegative else x


def kinds(modules) -> list[str]:
    return [type(m).__name__ for m in modules]


# ---------------------------------------------------------------- He et al. 2016, Table 1: what the shortcut computes

def test_constant_scaling_is_half_the_branch_plus_half_the_shortcut():
    block, x = inner(net(shortcut_op="scale", shortcut_scale=0.5, branch_scale=0.5)), x16()
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(0.5 * block.branch(x) + 0.5 * x))
    assert block.merge == "scale" and not dict(block.named_parameters(recurse=False))


def test_exclusive_gating_with_a_huge_negative_bias_is_the_identity_and_positive_the_branch():
    x = x16(nonnegative=True)  # what a post-activation block receives
    with torch.no_grad():
        assert torch.equal(inner(net(shortcut_op="gate_exclusive", gate_bias=-1e4))(x), x)
        block = inner(net(shortcut_op="gate_exclusive", gate_bias=1e4))
        torch.testing.assert_close(block(x), torch.relu(block.branch(x)))
        gate = inner(net(shortcut_op="gate_exclusive", gate_bias=-6.0)).gate(x)
    assert gate.shape == x.shape and 0 < gate.min() and gate.median() < 0.01  # sigmoid(-6) = 0.0025: mostly carry


def test_shortcut_only_gating_scales_only_the_shortcut():
    x = x16()
    with torch.no_grad():
        block = inner(net(shortcut_op="gate_shortcut", gate_bias=-1e4))
        torch.testing.assert_close(block(x), torch.relu(block.branch(x) + x))
        block = inner(net(shortcut_op="gate_shortcut", gate_bias=0.0))
        g = torch.sigmoid(block.gate[0](x))
        torch.testing.assert_close(block(x), torch.relu(block.branch(x) + (1 - g) * x))


def test_conv1x1_shortcut_is_a_bare_1x1_conv_on_every_block():
    model = net(shortcut_op="conv1x1")
    assert all(isinstance(b.shortcut, nn.Conv2d) and b.shortcut.kernel_size == (1, 1) for b in blocks(model))
    block, x = inner(model), x16()
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(block.branch(x) + block.shortcut(x)))


def test_dropout_shortcut_keeps_half_the_elements_unscaled_and_halves_them_in_eval():
    block, x = inner(net(shortcut_op="dropout", shortcut_dropout=0.5)), x16()
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(block.branch(x) + 0.5 * x))
    drop = block.shortcut[-1].train()
    assert isinstance(drop, ShortcutDropout)
    kept = drop(torch.ones(100_000))
    assert set(kept.unique().tolist()) == {0.0, 1.0} and abs(kept.mean().item() - 0.5) < 0.01


# ---------------------------------------------------------------- He et al. 2016, Fig. 4: where BN and ReLU sit

ORDER_LAYERS = {  # (branch, after the addition)
    "post": (["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"], ["ReLU"]),
    "bn_after_add": (["Conv2d", "BatchNorm2d", "ReLU", "Conv2d"], ["BatchNorm2d", "ReLU"]),
    "relu_before_add": (["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU"], []),
    "relu_preact": (["ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"], []),
    "preact": (["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"], []),
}


@pytest.mark.parametrize("order", ORDERS)
def test_each_order_puts_bn_and_relu_where_figure_4_does(order):
    block, x = inner(net(order=order)), x16()
    assert (kinds(block.branch), kinds(block.post)) == ORDER_LAYERS[order]
    with torch.no_grad():
        torch.testing.assert_close(block(x), block.post(block.branch(x) + x))
    assert not block.branch[0].__dict__.get("inplace", False)  # never overwrite the shortcut's input


def test_preact_block_starts_with_bn_shares_it_where_the_shape_changes_and_the_net_ends_with_bn_relu():
    model = net(order="preact")
    block = inner(model)
    assert isinstance(block.branch[0], nn.BatchNorm2d) and isinstance(block.pre, nn.Identity)
    x = x16()
    with torch.no_grad():
        torch.testing.assert_close(block(x), x + block.branch(x))  # nothing after the addition
    down = model.stages[1][0]  # 8 -> 16 channels, stride 2: BN-ReLU before both branch and projection
    assert kinds(down.pre) == ["BatchNorm2d", "ReLU"] and kinds(down.shortcut) == ["Conv2d"]
    assert isinstance(down.branch[0], nn.Conv2d)
    assert kinds(model.stem) == ["Conv2d"] and kinds(model.head)[:2] == ["BatchNorm2d", "ReLU"]


@pytest.mark.parametrize("depth, bottleneck, channels", [(110, False, [16, 32, 64]), (164, True, [64, 128, 256])])
def test_preact_resnet_110_and_164_have_the_papers_1_7m_parameters(depth, bottleneck, channels):
    with torch.device("meta"):
        model = build_model("plain", depth, None, (3, 32, 32), 10, order="preact", bottleneck=bottleneck)
    assert f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M" == "1.7M"  # He et al. 2016, Table 5
    assert [len(stage) for stage in model.stages] == [18, 18, 18] and model.stage_channels == channels
    branch = model.stages[0][1].branch
    assert sum(isinstance(m, nn.Conv2d) for m in branch) == (3 if bottleneck else 2)


# ---------------------------------------------------------------- highway, stochastic depth, init, normalisation

def test_highway_block_is_t_h_plus_one_minus_t_x():
    block, x = inner(net(shortcut_op="gate_exclusive", order="relu_before_add", gate_bias=-2.0)), x16()
    with torch.no_grad():
        t, h = block.gate(x), block.branch(x)
        torch.testing.assert_close(block(x), t * h + (1 - t) * x)
        assert torch.equal(inner(net(shortcut_op="gate_exclusive", order="relu_before_add", gate_bias=-1e4))(x), x)
    assert isinstance(block.branch[-1], nn.ReLU) and len(block.post) == 0
    torch.testing.assert_close(block.gate[0].bias, torch.full((16,), -2.0))


def test_stochastic_depth_is_the_identity_in_eval_and_drops_whole_samples_in_training():
    model = net(drop_path=0.5)
    rates = [b.drop_path.p for b in blocks(model)]
    assert rates == pytest.approx([0.5 * i / 9 for i in range(1, 10)])  # linear decay to 0.5 at the last block
    x = torch.randn(8, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), net(drop_path=0.0).eval()(x), atol=0, rtol=0)
    last = blocks(model)[-1].train()
    drops = last.drop_path(torch.ones(20_000, 2, 3, 3))
    per_sample = drops.flatten(1)
    assert ((per_sample == 0).all(1) | (per_sample == 2).all(1)).all()  # whole samples, survivors scaled 1/0.5
    assert abs((per_sample[:, 0] == 0).float().mean().item() - 0.5) < 0.02
    torch.manual_seed(3)
    x = torch.randn(32, 32, 2, 2)
    with torch.no_grad():
        out, branch = last(x), last.branch(x)  # train-mode BN: the same batch statistics twice
    dropped = torch.isclose(out, torch.relu(x)).flatten(1).all(1)
    kept = torch.isclose(out, torch.relu(branch / (1 - last.drop_path.p) + x), atol=1e-5).flatten(1).all(1)
    assert (dropped | kept).all() and dropped.any() and kept.any()


def test_fixup_starts_every_branch_and_the_classifier_at_zero_with_scaled_convs():
    model, reference = net(norm="none", init="fixup"), net()  # same seed, same random draws
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in model.modules())
    x = torch.randn(4, 3, 8, 8)
    outputs = []
    for b in blocks(model):
        b.branch.register_forward_hook(lambda module, inputs, output: outputs.append(output))
    with torch.no_grad():
        assert torch.equal(model(x), torch.zeros(4, 10))
    assert len(outputs) == 9 and all(torch.equal(o, torch.zeros_like(o)) for o in outputs)
    for b, ref in zip(blocks(model), blocks(reference)):
        convs, ref_convs = ([m for m in blk.branch if isinstance(m, nn.Conv2d)] for blk in (b, ref))
        torch.testing.assert_close(convs[0].weight, ref_convs[0].weight * 9 ** (-1 / (2 * 2 - 2)))
        assert not convs[-1].weight.any() and convs[0].bias is None
        assert kinds(b.branch)[-2:] == ["ScalarScale", "ScalarBias"]
        assert sum(isinstance(m, ScalarBias) for m in b.modules()) == 4
    down = model.stages[1][0]
    assert kinds(down.pre) == ["ScalarBias"]  # Fixup's first bias is also the shortcut's (x + a1)
    model(x).logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_skipinit_has_no_bn_and_every_block_starts_as_its_shortcut():
    model = net("weighted", alpha_init=0.0, learn_beta=False, norm="none")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    block, x = inner(model), x16()
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(x))
    assert isinstance(block.alpha, nn.Parameter) and "beta" not in dict(block.named_parameters())
    assert all(isinstance(m, nn.Conv2d) and m.bias is not None for m in block.branch if hasattr(m, "kernel_size"))


def test_dirac_init_starts_each_branch_conv_as_the_identity_without_shortcuts():
    model = net("noshortcut", init="dirac")
    for block in blocks(model):
        assert block.shortcut is None
        for conv in (m for m in block.branch if isinstance(m, nn.Conv2d)):
            rows = min(conv.out_channels, conv.in_channels)
            identity = torch.zeros_like(conv.weight[:rows])
            nn.init.dirac_(identity)
            assert torch.equal(conv.weight[:rows], identity)
            assert conv.out_channels == rows or conv.weight[rows:].abs().sum() > 0  # widened channels stay random
    conv = inner(model).branch[0]
    x = x16()
    with torch.no_grad():
        torch.testing.assert_close(conv(x), x)


def test_group_norm_and_no_norm():
    model = net(norm="group")
    norms = [m for m in model.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(m.num_groups == math.gcd(32, m.num_channels) for m in norms)
    bare = net(norm="none")
    convs = [m for m in bare.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in bare.modules())


# ---------------------------------------------------------------- every design builds, trains and traces

DESIGNS = [
    *({"shortcut_op": op} for op in SHORTCUT_OPS),
    *({"order": order} for order in ORDERS if order != "post"),
    {"shortcut_op": "gate_exclusive", "order": "relu_before_add", "gate_bias": -2.0},  # highway
    {"norm": "group"}, {"norm": "none"}, {"norm": "none", "init": "fixup"}, {"init": "dirac"},
    {"drop_path": 0.5, "shortcut_op": "dropout", "order": "preact"},
    {"block": "weighted", "alpha_init": 0.0, "learn_beta": False, "norm": "none"},  # skipinit
    {"block": "noshortcut", "init": "dirac"}, {"block": "csp", "shortcut_op": "gate_shortcut", "drop_path": 0.2},
]


def _id(design: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in design.items())


@pytest.mark.parametrize("design", DESIGNS, ids=_id)
@pytest.mark.parametrize("depth, shape, options", [(8, (3, 8, 8), {}), (11, (3, 8, 8), {"bottleneck": True}),
                                                   (6, (12,), {})], ids=["cifar", "cifar_bottleneck", "mlp"])
def test_every_design_runs_forward_and_backward(design, depth, shape, options):
    design = dict(design)
    model = net(design.pop("block", "plain"), depth, 8, shape, **design, **options)
    model(torch.randn(4, *shape)).logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("design", DESIGNS, ids=_id)
def test_every_design_traces_in_eval_mode_as_export_does(design):
    design = dict(design)
    model = net(design.pop("block", "plain"), 8, **design).eval()
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        traced = torch.jit.trace(model, x, check_trace=False)
        torch.testing.assert_close(traced(torch.cat([x, x])), model(torch.cat([x, x])))
    assert not any(isinstance(m, (DropPath, ShortcutDropout)) and m.training for m in model.modules())


def test_option_a_and_fixup_layers_hold_no_state_beyond_their_scalars():
    assert not list(ZeroPadShortcut(8, 2).parameters())
    assert [p.shape for p in ScalarBias().parameters()] == [torch.Size([])]
    assert [p.shape for p in ScalarScale().parameters()] == [torch.Size([])]
