"""Every CUDA figure of the project in one command, within a time budget: `make gpu-check` (or `python
scripts/gpu_check.py`), one markdown table on stdout and in <out>/gpu_check.md, every figure in <out>/gpu_check.json.

    python scripts/gpu_check.py                   # on a GPU machine: at most --budget seconds (default 480)
    python scripts/gpu_check.py --dry             # the same stages on the CPU at tiny sizes, in about a minute

No network and no data files: synthetic data and the embedded digits only. Stages, most wanted first; each runs
in its own process under its own time limit, so a short spell on a GPU still gives a partial table, and one that
is cut short or fails is reported as such (stages that did not fit in what was left of the budget: skipped):
  env             GPU model, driver, memory, device count, torch, CUDA and cuDNN versions
  train-default   `python train.py trainer=gpu`: the default job (digits, ResNet-20, 30 epochs): wall time, images/s
  bench-bf16      scripts/bench.py --device cuda, ResNet-20/56/18 (3x32x32, batch 512), bf16-mixed, channels_last:
                  reslab's full path against the bare loop (and torchvision's resnet18)
  train-cifar     a CIFAR-sized job: 50,000 synthetic 32x32 training images held on the device, 2 epochs
  bench-fp32      the same networks in 32-true
  bench-compile   the same with task.compile=true (bf16-mixed, channels_last)
  compile-cost    what a compile costs (first steps) and gains (step time): the figures of task.compile=auto's rule
  bench-nchw      bf16-mixed in the contiguous (NCHW) format
  sweep-4         a 4-job sweep of the default job with the parallel launcher (every job on the devices there are)
  ddp-2           the CIFAR-sized job with DDP on 2 devices (skipped with fewer than 2)
Peak memory is each job's (metrics.json peak_mem_mb; bench: the peak allocated over a candidate's rounds).
`--dry` disables torch.compile (TORCH_COMPILE_DISABLE=1: compiling takes minutes on a CPU) so that its stages
check their own plumbing only.
"""
import argparse
import contextlib
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("resnet20", "resnet56", "resnet18")
DRY_SLACK = 3  # dry stages may take this many times their GPU budget (tiny sizes, but a CPU shared with others)
COLUMNS = ("stage", "case", "status", "s", "images/s", "ms/step", "full/bare", "peak MiB", "note")


@dataclass
class Check:
    """What every stage needs: where to write, how big, how long is left."""

    out: Path
    dry: bool
    deadline: float
    devices: int = 0
    env: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    stages: list = field(default_factory=list)

    @property
    def left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, name: str, command: list[str], budget: float, env: dict | None = None) -> tuple[str, float]:
        """Run `command` (a python script of this checkout and its arguments) with at most `budget` seconds (less
        when the check's budget ends first); (status, seconds). Its output goes to <out>/logs/<name>.log. Dry, the
        bench script runs in this process (the same arguments, without a process start each: the test stays short)."""
        limit = min(budget, self.left)
        log = self.out / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        with open(log, "w") as handle:
            if self.dry and command[0] == "scripts/bench.py":
                return _in_process(command, handle), time.monotonic() - start
            try:
                code = subprocess.run([sys.executable, *command], cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                                      timeout=limit, env={**os.environ, **(env or {})}).returncode
            except subprocess.TimeoutExpired:
                return f"cut at {limit:.0f} s", time.monotonic() - start
        status = "ok" if code == 0 else f"failed (exit {code}; logs/{name}.log)"
        return status, time.monotonic() - start

    def add(self, stage: str, case: str, status: str, seconds: float = math.nan, **figures) -> None:
        self.rows.append({"stage": stage, "case": case, "status": status, "seconds": seconds, **figures})


def _in_process(command: list[str], handle) -> str:
    spec = importlib.util.spec_from_file_location("bench", ROOT / command[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        try:
            module.main(command[1:])
        except BaseException as err:  # noqa: BLE001 - SystemExit from argparse included: reported as the stage's
            traceback.print_exc(file=handle)
            return f"failed ({type(err).__name__}: {err})"[:200]
    return "ok"


# ---- stages ---------------------------------------------------------------------------------------------------

def env_stage(check: Check, budget: float) -> None:
    """The versions, from a fresh process (this one never touches the GPU: its memory stays the jobs')."""
    script = ("import json, torch; c = torch.cuda.is_available(); print(json.dumps({'torch': torch.__version__, "
              "'cuda': torch.version.cuda, 'cudnn': torch.backends.cudnn.version() if c else None, "
              "'devices': torch.cuda.device_count() if c else 0, "
              "'gpu': torch.cuda.get_device_name(0) if c else None}))")
    start = time.monotonic()
    try:
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=budget)
        info, error = (json.loads(out.stdout.strip().splitlines()[-1]), "") if out.returncode == 0 else \
            ({}, out.stderr.strip()[-200:])
        smi = shutil.which("nvidia-smi")
        if smi:
            query = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                                   capture_output=True, text=True, timeout=budget)
            info["nvidia-smi"] = query.stdout.strip().splitlines()
    except subprocess.TimeoutExpired:
        info, error = {}, f"cut at {budget:.0f} s"
    check.devices = info.get("devices", 0)
    check.env = info
    note = (f"GPU {info.get('gpu')} x{check.devices}, driver/memory {'; '.join(info.get('nvidia-smi', [])) or 'n/a'}, "
            f"torch {info.get('torch')}, CUDA {info.get('cuda')}, cuDNN {info.get('cudnn')}")
    check.add("env", "versions", "ok" if info else f"failed: {error}", time.monotonic() - start,
              note=note)


def train_stage(check: Check, stage: str, overrides: list[str], budget: float, case: str) -> None:
    folder = check.out / "runs" / stage
    status, seconds = check.run(stage, ["train.py", *overrides, f"hydra.run.dir={folder}"], budget)
    check.add(stage, case, status, seconds, **job_figures(folder))


def job_figures(folder: Path) -> dict:
    """images/s, peak MiB and a note from a run folder's metrics.json ({} without one)."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    test = next((k for k in metrics if k.startswith("test/acc")), None)
    note = (f"{metrics.get('status')}: {metrics.get('epochs')} epochs, job {metrics.get('wall_time_s', math.nan):.1f} s"
            f" in the process, {test} {metrics.get(test, math.nan):.3f}, threads {metrics.get('threads')}, "
            f"compile {metrics.get('compile')}, channels_last {metrics.get('channels_last')}")
    return {"images_s": metrics.get("throughput", math.nan), "peak_mib": metrics.get("peak_mem_mb", math.nan),
            "note": note, "metrics": {k: v for k, v in metrics.items() if k != "history"}}


def bench_stage(check: Check, stage: str, flags: list[str], budget: float, env: dict | None = None) -> None:
    """scripts/bench.py for each network in its own process (a network cut short leaves the others' rows)."""
    sizes = ["--rounds", "1", "--steps", "2", "--warmup", "1", "--batch-size", "16", "--threads", "1",
             "--gemm-size", "128"] if check.dry else \
        ["--rounds", "3", "--steps", "10", "--warmup", "3", "--batch-size", "512"]
    device = "cpu" if check.dry else "cuda"
    for model in ("resnet8",) if check.dry else MODELS:
        if check.left < 5:
            check.add(stage, model, "skipped: no time left")
            continue
        result = check.out / "bench" / f"{stage}-{model}.json"
        result.parent.mkdir(parents=True, exist_ok=True)
        status, seconds = check.run(f"{stage}-{model}", [
            "scripts/bench.py", "--device", device, "--models", model, "--data", "synthetic", *sizes, *flags,
            "--out", str(result.with_suffix(".md")), "--json", str(result)], budget, env)
        rows = json.loads(result.read_text())["rows"] if result.exists() else []
        if not rows:
            check.add(stage, model, status, seconds)
        for row in rows:
            check.add(stage, f"{model} {row['candidate']}", status, seconds, images_s=row["samples_s"],
                      ms_step=row["ms_step"], ratio=row["ratio"], peak_mib=row["memory_mb"],
                      note=f"{row['flops_s'] / 1e9:.0f} GFLOP/s")


def compile_cost_stage(check: Check, budget: float) -> None:
    result = check.out / "bench" / "compile-cost.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    models = ["resnet8"] if check.dry else ["resnet20", "resnet56"]
    sizes = ["--steps", "3", "--batch-size", "16", "--threads", "1"] if check.dry else \
        ["--steps", "20", "--batch-size", "512"]
    status, seconds = check.run("compile-cost", [
        "scripts/bench.py", "--compile-cost", "--device", "cpu" if check.dry else "cuda", "--models", *models,
        "--data", "synthetic", "digits", *sizes, "--out", str(result.with_suffix(".md")), "--json", str(result)],
        budget)
    rows = json.loads(result.read_text())["compile_cost"] if result.exists() else []
    if not rows:
        check.add("compile-cost", ", ".join(models) + ", digits", status, seconds)
    for row in rows:
        even = f"after {row['break_even_steps']:,.0f} steps" if math.isfinite(row["break_even_steps"]) else "never"
        check.add("compile-cost", row["data"], status, seconds, ms_step=row["compiled_ms"],
                  note=f"eager {row['eager_ms']:.1f} ms/step, compile {row['compile_s']:.1f} s (train + eval), "
                       f"breaks even {even} (reslab.tasks.compile.BREAK_EVEN_STEPS)")


def sweep_stage(check: Check, common: list[str], budget: float) -> None:
    folder = check.out / "runs" / "sweep-4"
    jobs = 2 if check.dry else 4
    seeds = ",".join(str(s) for s in range(jobs))
    status, seconds = check.run("sweep-4", ["train.py", "-m", "hydra/launcher=parallel",
                                            f"hydra.launcher.n_jobs={jobs}", f"seed={seeds}", *common,
                                            f"hydra.sweep.dir={folder}"], budget)
    figures = [job_figures(folder / f"seed={s}") for s in range(jobs)]
    walls = [f["metrics"]["wall_time_s"] for f in figures if f]
    check.add("sweep-4", f"{jobs} jobs, parallel launcher", status, seconds,
              note=f"{len(walls)}/{jobs} jobs recorded; job wall median "
                   f"{statistics.median(walls) if walls else math.nan:.1f} s")
    for seed, figure in enumerate(figures):
        check.add("sweep-4", f"job seed={seed}", status if figure else "no record", math.nan,
                  **{k: v for k, v in figure.items() if k != "metrics"})


def stages(check: Check) -> list[tuple[str, float, callable]]:
    """(name, budget in seconds, run) of every stage, most wanted first; budgets sized for one H200-class GPU."""
    dry = check.dry
    gpu = ["trainer.accelerator=cpu", "cpu.threads=1"] if dry else ["trainer=gpu"]
    tiny = ["depth=8", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
            "trainer.limit_test_batches=1", "logger=none"] if dry else []
    cifar = ["dataset=synthetic", f"dataset.num_samples={400 if dry else 62_500}", "epochs=" + ("1" if dry else "2")]
    return [
        ("env", 20, lambda b: env_stage(check, b)),
        ("train-default", 60, lambda b: train_stage(check, "train-default", [*gpu, *tiny, *(["epochs=1"] * dry)], b,
                                                    "default job (digits, ResNet-20, 30 epochs)")),
        ("bench-bf16", 50, lambda b: bench_stage(check, "bench-bf16", ["--precision", "bf16-mixed",
                                                                        "--channels-last", "true"], b)),
        ("train-cifar", 90, lambda b: train_stage(check, "train-cifar", [*gpu, *cifar, *tiny], b,
                                                  "50,000 synthetic 32x32 on the device, 2 epochs")),
        ("bench-fp32", 40, lambda b: bench_stage(check, "bench-fp32", ["--precision", "32-true", "--channels-last",
                                                                        "true", "--no-torchvision"], b)),
        ("bench-compile", 90, lambda b: bench_stage(check, "bench-compile", [
            "--precision", "bf16-mixed", "--channels-last", "true", "--compile", "--no-torchvision"], b)),
        ("compile-cost", 120, lambda b: compile_cost_stage(check, b)),
        ("bench-nchw", 40, lambda b: bench_stage(check, "bench-nchw", ["--precision", "bf16-mixed", "--channels-last",
                                                                        "false", "--no-torchvision"], b)),
        ("sweep-4", 90, lambda b: sweep_stage(check, [*gpu, *tiny, *(["epochs=1"] * dry)], b)),
        ("ddp-2", 90, lambda b: ddp_stage(check, gpu, cifar, tiny, b)),
    ]


def ddp_stage(check: Check, gpu: list[str], cifar: list[str], tiny: list[str], budget: float) -> None:
    if not check.dry and check.devices < 2:
        check.add("ddp-2", "2 devices", f"skipped: {check.devices} CUDA device(s)")
        return
    train_stage(check, "ddp-2", [*gpu, "trainer.strategy=ddp", "trainer.devices=2", *cifar, *tiny], budget,
                "the CIFAR-sized job on 2 devices (DDP)" + (" (dry: 2 CPU ranks)" if check.dry else ""))


# ---- the report -----------------------------------------------------------------------------------------------

def markdown(check: Check, header: str) -> str:
    def cell(value, fmt):
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)

    lines = [header, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * 3 + "---:|" * 5 + "---|"]
    for r in check.rows:
        lines.append("| " + " | ".join([r["stage"], r["case"], r["status"], cell(r.get("seconds"), "{:.1f}"),
                                        cell(r.get("images_s"), "{:,.0f}"), cell(r.get("ms_step"), "{:.2f}"),
                                        (r.get("ratio") or "").removeprefix("full / bare "),
                                        cell(r.get("peak_mib"), "{:,.0f}"), r.get("note", "")]) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry", action="store_true", help="the same stages on the CPU at tiny sizes (a test)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole check (default 480 on a GPU, 240 dry); stages that do not fit "
                             "are skipped and reported")
    parser.add_argument("--only", nargs="+", default=None, help="run only these stages (names above)")
    parser.add_argument("--out", type=Path, default=Path("gpu_check"), help="folder of the table, JSON and logs")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    budget = args.budget or (900 if args.dry else 480)  # dry: the stages' own limits are the GPU's (plumbing only)
    if args.dry:  # compiling takes minutes on a CPU: the compile stages check their plumbing only
        os.environ["TORCH_COMPILE_DISABLE"] = "1"
    start = time.monotonic()
    check = Check(out=args.out.absolute(), dry=args.dry, deadline=start + budget)
    check.out.mkdir(parents=True, exist_ok=True)
    for name, stage_budget, run in stages(check):
        if args.only and name not in args.only and name != "env":
            continue
        if check.left < min(stage_budget, 10):
            check.add(name, "", f"skipped: {check.left:.0f} s of the budget left")
            check.stages.append({"stage": name, "status": "skipped", "seconds": 0.0})
            continue
        began = time.monotonic()
        try:
            run(stage_budget * (DRY_SLACK if args.dry else 1))
            status = "ran"
        except Exception as err:  # noqa: BLE001 - one stage's error must not cost the others their figures
            check.add(name, "", f"error: {type(err).__name__}: {err}"[:200])
            status = "error"
        check.stages.append({"stage": name, "status": status, "seconds": round(time.monotonic() - began, 1)})
        print(f"[gpu-check] {name}: {status} in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    total = time.monotonic() - start
    header = (f"gpu-check{' --dry (CPU, tiny sizes, torch.compile disabled)' if args.dry else ''}: "
              f"{total:.0f} s of a {budget:.0f} s budget")
    table = markdown(check, header)
    (check.out / "gpu_check.md").write_text(table)
    (check.out / "gpu_check.json").write_text(json.dumps(
        {"dry": args.dry, "budget_s": budget, "seconds": round(total, 1), "env": check.env, "stages": check.stages,
         "rows": check.rows}, indent=1, default=str))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
