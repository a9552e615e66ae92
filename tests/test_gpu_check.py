"""`make gpu-check`: its dry mode runs every stage on the CPU and reports them in one table and one JSON file, so
the check a GPU session runs cannot rot between uses; a budget too short for a stage skips it, said so."""
import importlib.util
import json
import subprocess
import sys

from conftest import ROOT

spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)
STAGES = ["env", "train-default", "bench-bf16", "train-cifar", "bench-fp32", "bench-compile", "compile-cost",
          "bench-nchw", "sweep-4", "ddp-2"]


def test_make_gpu_check_dry_runs_every_stage_into_one_table_and_json(tmp_path):
    out = subprocess.run(["make", "-s", "gpu-check", f"PY={sys.executable}", f"ARGS=--dry --out {tmp_path}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["dry"] is True and [s["stage"] for s in report["stages"]] == STAGES
    assert all(s["status"] == "ran" for s in report["stages"]), report["stages"]
    rows = report["rows"]
    assert all(r["status"] == "ok" for r in rows), [r for r in rows if r["status"] != "ok"]
    by_stage = {stage: [r for r in rows if r["stage"] == stage] for stage in STAGES}
    for stage in ("bench-bf16", "bench-fp32", "bench-compile", "bench-nchw"):  # full path and bare loop, timed
        assert [r["case"] for r in by_stage[stage]] == ["resnet8 full", "resnet8 bare"], by_stage[stage]
        assert all(r["ms_step"] > 0 and r["images_s"] > 0 for r in by_stage[stage])
        assert by_stage[stage][0]["ratio"].startswith("full / bare ")
    for stage in ("train-default", "train-cifar", "ddp-2"):
        [row] = by_stage[stage]
        assert row["metrics"]["status"] == "ok" and row["images_s"] > 0 and row["seconds"] > 0
    assert by_stage["ddp-2"][0]["metrics"]["threads"] == 1
    assert {r["data"] if "data" in r else r["case"] for r in by_stage["compile-cost"]} == {
        "synthetic 3x32x32 / resnet8", "digits 1x8x8 / resnet20"}
    assert [r["case"] for r in by_stage["sweep-4"]] == ["2 jobs, parallel launcher", "job seed=0", "job seed=1"]
    assert "2/2 jobs recorded" in by_stage["sweep-4"][0]["note"]
    assert report["env"]["torch"] and "torch " in by_stage["env"][0]["note"]

    table = (tmp_path / "gpu_check.md").read_text()
    assert table in out.stdout
    lines = table.splitlines()
    assert lines[0].startswith("gpu-check --dry") and lines[2] == "| " + " | ".join(gpu_check.COLUMNS) + " |"
    body = [line for line in lines[4:] if line.startswith("| ")]
    assert len(body) == len(rows) and all(line.count(" | ") == len(gpu_check.COLUMNS) - 1 for line in body)
    print(table)  # the table the dry run prints (pytest -s shows it)


def test_a_budget_too_short_skips_the_stages_and_says_so(tmp_path, capsys):
    assert gpu_check.main(["--budget", "0.001", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [s["status"] for s in report["stages"]] == ["skipped"] * len(STAGES)
    assert all(r["status"].startswith("skipped: ") for r in report["rows"])
    assert "| ddp-2 |  | skipped: " in capsys.readouterr().out
