"""scripts/bench.py: its parts work and compare like with like (no timing is asserted)."""
import importlib.util

import pytest
import torch

from conftest import ROOT

spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_step_timer_leaves_out_warmup_and_epoch_boundaries():
    timer = bench.StepTimer(torch.device("cpu"), warmup=2, steps=5)
    ends = []
    for step in range(1, 20):
        if timer.done:
            break
        timer.step_end(last_in_epoch=step % 4 == 0)  # epochs of 4 steps
        ends.append((step, timer.timed))
    # steps 1-2 warm up (the clock starts at the end of step 2); steps 3-4 are timed, step 4 ends the epoch;
    # step 5 restarts the clock, 6-8 are timed (8 ends the epoch), then 5 steps are done.
    assert timer.seen == 8 and timer.timed == 5
    assert [timed for _, timed in ends] == [0, 0, 0, 2, 2, 2, 2, 5]


def test_reslab_resnet18_is_torchvision_resnet18(make_cfg):
    from torchvision.models import resnet18

    from reslab.models.network import build_model

    cfg = make_cfg("dataset=synthetic", *bench.model_overrides("resnet18"))
    ours = build_model(**dict(cfg.model), depth=cfg.depth, width=cfg.width, input_shape=(3, 32, 32), num_classes=10)
    theirs = resnet18(num_classes=10)

    def layers(model):  # (kind, weight shape) of every conv, BN and linear layer, in registration order
        return [(type(m).__name__, tuple(m.weight.shape)) for m in model.modules() if hasattr(m, "weight")]

    assert layers(ours) == layers(theirs)
    assert [type(m).__name__ for m in ours.stem] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]


def test_bench_model_rows_and_table(tmp_path):
    args = bench.parse_args(["--rounds", "1", "--steps", "2", "--warmup", "1", "--batch-size", "64"])
    overrides = ["depth=8", "logger=none", "diagnostics=off", "batch_size=64", "trainer.accelerator=cpu", "epochs=2"]
    gemm = bench.Gemm(torch.device("cpu"), torch.float32, size=128)
    rows = bench.bench_model("digits / depth 8", overrides, False, args, gemm, tmp_path)
    full, bare = rows
    assert (full["candidate"], bare["candidate"]) == ("full", "bare")
    assert full["params"] == bare["params"] and full["flops_step"] == bare["flops_step"] > 0
    assert full["ratio"].startswith("full / bare ") and full["samples_s"] > 0 and bare["memory_mb"] > 0
    table = bench.markdown(rows, gemm, "test")
    assert "| digits / depth 8 | full |" in table and "oneDNN linear" in table


def test_bad_model_name_is_one_line_error(capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--models", "vgg16"])
    assert "--models 'vgg16' is invalid" in capsys.readouterr().err


def test_denormal_case_times_both_modes_and_leaves_flushing_on():
    table = bench.denormal_case(reps=2)
    rows = [line for line in table.splitlines() if line.startswith("| ") and " ms |" in line]
    assert len(rows) == 2 and all(row.count(" ms |") == 2 for row in rows)
    assert all(float(row.split("|")[-2].strip().rstrip("x")) > 0 for row in rows)
    assert torch.set_flush_denormal(True)  # left as reslab runs: flushing on


def test_compile_auto_rule_and_its_record(make_cfg, tmp_path):
    from reslab.tasks import compile as compiling
    from reslab.run import run

    assert compiling.decide(True, "cpu", 10) == (True, "task.compile=true (as set)")
    assert compiling.decide(False, "cuda", 10**6)[0] is False
    on, why = compiling.decide("auto", "cuda", compiling.BREAK_EVEN_STEPS["cuda"])
    assert on and "at least" in why
    assert compiling.decide("auto", "cuda", compiling.BREAK_EVEN_STEPS["cuda"] - 1)[0] is False
    assert compiling.decide("auto", "cpu", 10**9)[0] is False  # measured: never pays on the CPU
    assert compiling.training_steps(30, 1258, 128) == 300 and compiling.training_steps(30, 1258, 128, 50) == 50
    cfg = make_cfg("depth=8", "epochs=1", "logger=none", "trainer.accelerator=cpu", "diagnostics=off")
    assert cfg.task.compile == "auto" and run(cfg, tmp_path, threads=1)["compile"] is False
