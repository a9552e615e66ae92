"""The model zoo: torchvision/He et al. parameter counts, weight compatibility, what each block type computes."""
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import torchvision
from hydra import compose, initialize_config_dir

from reslab.models.blocks import ResidualBlock
from reslab.models.describe import describe
from reslab.models.layout import BLOCK_TYPES, OPTION_DEFAULTS
from reslab.models.network import build_model
from reslab.models.options import ORDERS, SHORTCUT_OPS, ModelOptions

ROOT = Path(__file__).resolve().parents[1]


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def blocks(model) -> list[ResidualBlock]:
    return [m for m in model.modules() if isinstance(m, ResidualBlock)]


@pytest.mark.parametrize("depth, expected", [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032),
                                             (101, 44_549_160)])
def test_imagenet_plain_has_torchvision_parameter_counts(depth, expected):
    with torch.device("meta"):
        assert n_params(build_model("plain", depth, None, (3, 224, 224), 1000)) == expected


@pytest.mark.parametrize("depth", [18, 50])
def test_torchvision_weights_give_the_same_logits(depth):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, f"resnet{depth}")()
    for m in reference.modules():  # non-trivial BN state, so that a mis-mapped BN shows
        if isinstance(m, torch.nn.BatchNorm2d):
            for tensor in (m.weight.data, m.bias.data, m.running_mean):
                tensor.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    ours = build_model("plain", depth, None, (3, 96, 96), 1000, stem="imagenet")
    theirs, mine = reference.state_dict(), ours.state_dict()
    key_map = dict(zip(mine, theirs))  # same module order: stem, stages (branch, then shortcut), head
    assert all(mine[k].shape == theirs[v].shape for k, v in key_map.items()) and len(mine) == len(theirs)
    ours.load_state_dict({k: theirs[v] for k, v in key_map.items()})
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), reference.eval()(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("depth, printed", [(20, "0.27M"), (32, "0.46M"), (44, "0.66M"), (56, "0.85M"),
                                            (110, "1.7M")])
def test_cifar_zeropad_parameter_counts_match_he_et_al_table_6(depth, printed):
    with torch.device("meta"):
        model = build_model("plain", depth, None, (3, 32, 32), 10, shortcut="zeropad")
    digits = len(printed.split(".")[1]) - 1
    assert f"{n_params(model) / 1e6:.{digits}f}M" == printed


def _zero_branches(model):
    for block in blocks(model):
        block.branch.register_forward_hook(lambda module, inputs, output: torch.zeros_like(output))


def test_noshortcut_output_has_no_identity_path():
    torch.manual_seed(0)
    x, y = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    for block_type, depends_on_input in [("noshortcut", False), ("plain", True)]:
        model = build_model(block_type, 20, 8, (3, 16, 16), 10).eval()
        _zero_branches(model)  # with every F silenced, only a shortcut can carry the input
        with torch.no_grad():
            assert (not torch.equal(model(x), model(y))) == depends_on_input, block_type
    bottleneck = build_model("noshortcut", 50, 8, (3, 16, 16), 10)  # where plain would project
    assert all(b.shortcut is None and b.merge == "none" for b in blocks(bottleneck))


@pytest.mark.parametrize("depth", [20, 50])
def test_noshortcut_keeps_plain_branch_parameters(depth):
    with torch.device("meta"):
        plain = build_model("plain", depth, None, (3, 32, 32), 10)
        bare = build_model("noshortcut", depth, None, (3, 32, 32), 10)
    shapes = {k: v.shape for k, v in plain.state_dict().items() if ".shortcut." not in k}
    assert {k: v.shape for k, v in bare.state_dict().items()} == shapes


def test_weighted_at_one_is_plain_and_its_scalars_learn():
    torch.manual_seed(0)
    plain = build_model("plain", 20, 8, (3, 16, 16), 10)
    weighted = build_model("weighted", 20, 8, (3, 16, 16), 10, alpha_init=1.0, beta_init=1.0)
    missing, unexpected = weighted.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and {k.rsplit(".", 1)[1] for k in missing} == {"alpha", "beta"}
    x = torch.randn(4, 3, 16, 16)
    out = weighted(x)
    assert torch.equal(out, plain(x))
    out.square().mean().backward()
    for block in blocks(weighted):
        assert block.alpha.grad.abs() > 0 and block.beta.grad.abs() > 0


def test_rezero_preset_starts_every_block_as_its_shortcut():
    model = build_model("weighted", 20, 8, (3, 16, 16), 10, alpha_init=0.0, learn_beta=False).eval()
    block = blocks(model)[0]
    assert "beta" not in dict(block.named_parameters()) and block.beta == 1
    x = torch.randn(2, 8, 16, 16)
    torch.testing.assert_close(block(x), torch.relu(x))


def test_csp50_costs_fewer_flops_than_plain50():
    with torch.device("meta"):
        plain, csp = (describe(build_model(b, 50, None, (3, 224, 224), 1000), (3, 224, 224)) for b in
                      ("plain", "csp"))
    assert csp["flops"] < 0.85 * plain["flops"] and csp["params"] < plain["params"]


@pytest.mark.parametrize("block_type", BLOCK_TYPES)
@pytest.mark.parametrize("depth, input_shape", [(18, (3, 16, 16)), (20, (3, 16, 16)), (50, (3, 16, 16)),
                                                (56, (3, 16, 16)), (20, (12,)), (56, (12,))])
def test_every_block_type_runs_forward_and_backward(block_type, depth, input_shape):
    model = build_model(block_type, depth, 8, input_shape, 5)
    model(torch.randn(2, *input_shape)).logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("block_type", ["plain", "csp"])
def test_forward_stages_report_every_stage(block_type):
    model = build_model(block_type, 18, 8, (3, 32, 32), 10).eval()
    x = torch.randn(2, 3, 32, 32)
    outputs = model.forward_stages(x)
    assert [o.shape[1] for o in outputs] == model.stage_channels == [8, 16, 32, 64]
    assert [o.shape[-1] for o in outputs] == [32, 16, 8, 4]  # small images get the stride-1 3x3 stem
    torch.testing.assert_close(model(x), model.head(outputs[-1]))


def test_stem_follows_input_size_unless_told():
    def first_kernel(**kw):
        return build_model("plain", 20, 8, kw.pop("shape"), 10, **kw).stem[0].kernel_size

    assert first_kernel(shape=(3, 64, 64)) == (3, 3) and first_kernel(shape=(3, 65, 65)) == (7, 7)
    assert first_kernel(shape=(3, 224, 224), stem="cifar") == (3, 3)


@pytest.mark.parametrize("input_shape, mlp_norm", [((3, 16, 16), "batch"), ((12,), "none")])
def test_zero_init_residual_silences_every_branch(input_shape, mlp_norm):
    model = build_model("plain", 20, 8, input_shape, 10, zero_init_residual=True, mlp_norm=mlp_norm)
    assert all(b.branch[-1].weight.abs().sum() == 0 for b in blocks(model))


def test_describe_counts_params_flops_and_stage_shapes():
    model = build_model("plain", 20, None, (3, 32, 32), 10, shortcut="zeropad")
    info = describe(model, (3, 32, 32))
    assert model.training and info["params"] == n_params(model) and info["flops"] > 0
    assert info["stages"] == [("stem", (16, 32, 32)), ("stage1", (16, 32, 32)), ("stage2", (32, 16, 16)),
                              ("stage3", (64, 8, 8)), ("logits", (10,))]


def test_layout_rules_import_without_torch():
    code = "import sys, reslab.models.layout; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


PRESETS = {  # conf/model/<name>.yaml: what each preset changes on the block type it extends
    "rezero": ("weighted", {"alpha_init": 0.0, "learn_beta": False}),
    "preact": ("plain", {"order": "preact"}),
    "highway": ("plain", {"shortcut_op": "gate_exclusive", "order": "relu_before_add", "gate_bias": -2.0}),
    "fixup": ("plain", {"norm": "none", "init": "fixup"}),
    "skipinit": ("rezero", {"norm": "none"}),
}


def test_model_configs_extend_plain_and_match_the_builder_defaults():
    names = sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml"))
    assert set(names) == {*BLOCK_TYPES, *PRESETS}
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        configs = {name: dict(compose(config_name=f"model/{name}").model) for name in names}
    assert configs["plain"] == {"block": "plain", **OPTION_DEFAULTS}
    assert OPTION_DEFAULTS == asdict(ModelOptions())  # the model API's defaults are the YAML's
    for name in BLOCK_TYPES:
        assert configs[name] == {**configs["plain"], "block": name}
    for name, (base, changes) in PRESETS.items():
        assert configs[name] == {**configs[base], **changes}, name
    for options in configs.values():
        build_model(**options, depth=20, width=4, input_shape=(3, 8, 8), num_classes=3)


def test_every_model_option_is_commented_in_plain_yaml():
    lines = (ROOT / "conf" / "model" / "plain.yaml").read_text().splitlines()
    keyed = {line.split(":")[0]: line for line in lines if line and not line.startswith((" ", "#", "-"))}
    assert set(keyed) == {"block", *OPTION_DEFAULTS}
    assert all("#" in line for line in keyed.values())
    for key in ("shortcut_op", "order"):  # their values are explained in a comment block above them
        assert any(line.startswith(f"# {key}: ") for line in lines)


def test_describe_script_lists_every_design_with_params_and_flops():
    command = [sys.executable, str(ROOT / "scripts" / "describe.py"), "depth=20", "--all", "--input", "3,8,8",
               "--classes", "3"]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()
    assert lines[1].split() == ["design", "config", "params", "FLOPs"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert {*BLOCK_TYPES, *PRESETS} <= set(rows)
    assert {f"shortcut_op={op}" for op in SHORTCUT_OPS[1:]} <= set(rows)
    assert {f"order={order}" for order in ORDERS if order != "post"} <= set(rows)
    assert {"norm=group", "norm=none", "noshortcut", "drop_path=0.5"} <= set(rows)
    assert rows["shortcut_op=conv1x1"][1] == "model.shortcut_op=conv1x1"
    params = {name: int(row[-2].replace(",", "")) for name, row in rows.items()}
    assert params["shortcut_op=gate_exclusive"] > params["plain"] == params["shortcut_op=scale"]
    assert params["preact"] == params["order=preact"] and params["highway"] == params["shortcut_op=gate_exclusive"]
