"""Training speed of reslab against a hand-written PyTorch loop and torchvision, measured side by side.

    python scripts/bench.py                        # CPU: ResNet-20 and ResNet-18 on CIFAR-sized data, and digits
    python scripts/bench.py --device cuda --compile --models resnet20 resnet56 --out bench_gpu.md

For each model it times, in interleaved rounds (so a slow spell of the machine hits every candidate alike):
  full        reslab's real path: the composed config, `reslab.tasks.build`, `reslab.run.build_trainer`
              (Lightning, torchmetrics, logger, checkpointing, diagnostics default)
  bare        a hand-written loop over the same network type, data tensors, optimizer and schedule, batch size,
              precision and memory format
  torchvision torchvision's resnet18 in the same bare loop (for `resnet18` = reslab plain depth 18, ImageNet stem)
Throughput counts training steps only (validation and epoch boundaries are left out) and is the median over
rounds; ratios are medians of the per-round ratios. FLOP/s counts the convolutions and matmuls of forward +
backward (FlopCounterMode) per measured step time, against the faster of two large GEMMs timed in the same rounds.
"""
import argparse
import contextlib
import copy
import json
import logging
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[1] / "conf"
GEMM_SIZE = 2048
DIGITS_MODEL = "resnet20"  # the default `python train.py` network on the default data


def compose_cfg(*overrides: str):
    """The config `python train.py <overrides>` would run."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def model_overrides(model: str) -> list[str]:
    """`resnet<depth>` -> reslab plain residual network of that depth; resnet18/34/... get the ImageNet stem on
    any input size, so that they are torchvision's networks."""
    depth = int(model.removeprefix("resnet"))
    stem = ["model.stem=imagenet"] if depth in (18, 34, 50, 101, 152) else []
    return [f"depth={depth}", "model=plain", *stem]


def clock(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class StepTimer:
    """Times `steps` training steps after `warmup` ones; only steps within one epoch are timed, so validation and
    the epoch boundary are left out. The clock (a device sync on CUDA) is read at segment ends only."""

    def __init__(self, device, warmup: int, steps: int):
        self.device, self.warmup, self.steps = device, warmup, steps
        self.seen = self.timed = 0
        self.seconds = 0.0
        self._mark, self._open = None, 0

    @property
    def done(self) -> bool:
        return self.timed + self._open >= self.steps

    def step_end(self, last_in_epoch: bool = False) -> None:
        self.seen += 1
        if self.seen < self.warmup or self.done:
            return
        if self._mark is None:  # the clock starts at the end of this step (a segment's first step is not timed)
            if not last_in_epoch:
                self._mark = clock(self.device)
            return
        self._open += 1
        if last_in_epoch or self.done:
            self.seconds += clock(self.device) - self._mark
            self.timed, self._open, self._mark = self.timed + self._open, 0, None

    @property
    def step_seconds(self) -> float:
        return self.seconds / self.timed if self.timed else math.nan


class FullPath:
    """reslab's `train.py` machinery, a fresh Trainer each round (as `reslab.run.run` builds it), stopped after
    warmup + steps training steps."""

    name = "full"

    def __init__(self, cfg, run_dir: Path):
        from reslab.tasks import build

        self.cfg, self.run_dir, self.fits = cfg, run_dir, 0
        self.data, self.task = build(cfg)
        self.model = self.task.model
        trainer = self._trainer([])
        self.precision, self.device = str(trainer.precision), trainer.strategy.root_device

    def _trainer(self, callbacks: list):
        from reslab.run import build_trainer

        self.fits += 1
        self.cfg.trainer.default_root_dir = str(self.run_dir / f"fit{self.fits}")
        return build_trainer(self.cfg, self.data, extra_callbacks=callbacks)

    def step_seconds(self, warmup: int, steps: int) -> float:
        import lightning as L

        timer = StepTimer(None, warmup, steps)

        class Timing(L.Callback):
            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                timer.device = pl_module.device
                timer.step_end(batch_idx + 1 == trainer.num_training_batches)
                trainer.should_stop = trainer.should_stop or timer.done

        trainer = self._trainer([Timing()])
        with contextlib.redirect_stdout(sys.stderr):  # the progress bar: stdout is for the table
            trainer.fit(self.task, datamodule=self.data)
        return timer.step_seconds


class BareLoop:
    """A hand-written training loop: slice a batch of the uint8 tensors on the device, (augment), normalise,
    forward, cross-entropy, backward, optimizer and schedule step, zero the gradients."""

    def __init__(self, name: str, model, data, cfg, precision: str, device):
        import torch

        from reslab.data.augment import channel_stats
        from reslab.config import to_dict
        from reslab.tasks.optim import build

        if precision not in ("32-true", "bf16-mixed"):
            sys.exit(f"error: the bare loop runs precision 32-true or bf16-mixed, not {precision}")
        self.name, self.data, self.device = name, data, device
        self.channels_last = cfg.task.channels_last is True
        if cfg.task.channels_last == "auto" and data.info.kind == "image":  # as the full path decides (cached)
            from reslab.tasks.memory_format import choose

            self.channels_last = choose(model, data.info.input_shape, cfg.batch_size, device)[0]
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        model = model.to(device, memory_format=memory_format)
        self.model = model
        self.net = torch.compile(model) if cfg.task.compile is True else model
        batches = len(data.splits.train) // cfg.batch_size
        scheduler = to_dict(cfg.scheduler) if cfg.scheduler else None
        self.optimizer, self.scheduler = build(model, to_dict(cfg.optim), scheduler, cfg.lr,
                                               cfg.epochs * batches, batches)
        self.loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")
        self.x, self.y = (t.to(device) for t in data.splits.train.tensors)
        self.mean, self.std = (s.to(device) for s in channel_stats(self.x)) if self.x.dim() == 4 else (None, None)
        self.batch_size = cfg.batch_size
        self.generator = torch.Generator(device).manual_seed(cfg.seed)
        self._order, self._next = None, 0

    def batch(self):
        import torch

        from reslab.data.augment import crop_flip, normalize
        from reslab.data.module import PADDING

        if self._order is None or self._next + self.batch_size > len(self._order):
            self._order, self._next = torch.randperm(len(self.x), generator=self.generator,
                                                     device=self.device), 0
        idx = self._order[self._next:self._next + self.batch_size]
        self._next += self.batch_size
        x, y = self.x[idx], self.y[idx]
        if self.mean is None:
            return x, y
        if self.data.augment:
            x = crop_flip(x, PADDING, self.generator)
        x = normalize(x, self.mean, self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def train_step(self) -> None:
        x, y = self.batch()
        with self.autocast:
            loss = self.loss_fn(self.net(x), y)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def step_seconds(self, warmup: int, steps: int) -> float:
        self.model.train()
        timer = StepTimer(self.device, warmup, steps)
        while not timer.done:
            self.train_step()
            timer.step_end()
        return timer.step_seconds


def step_flops(model, x, y) -> int:
    """Multiply-add FLOPs (x2) of one forward + backward pass of `model` on the batch (x, y)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def step_memory_mb(loop: BareLoop) -> float:
    """What a training step holds at its peak, for the CPU (which keeps no allocator statistics): parameters +
    gradients + optimizer state + the activations saved for the backward pass."""
    import torch

    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    x, y = loop.batch()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loop.loss_fn(loop.net(x), y)
    loss.backward()
    state = [t for s in loop.optimizer.state.values() for t in s.values() if torch.is_tensor(t)]
    tensors = [*loop.model.parameters(), *(p.grad for p in loop.model.parameters() if p.grad is not None), *state]
    loop.optimizer.zero_grad(set_to_none=True)
    return (sum(saved.values()) + sum(t.nbytes for t in tensors)) / 2**20


class Gemm:
    """A large square matmul in the training dtype; on the CPU both through MKL (torch.mm) and oneDNN (the library
    behind CPU convolutions; often much faster on AMD), the faster being the ceiling."""

    def __init__(self, device, dtype, size: int = GEMM_SIZE):
        import torch

        self.a, self.b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
        self.device, self.size = device, size
        self.kernels = {"torch.mm": lambda: torch.mm(self.a, self.b)}
        if device.type == "cpu":
            self.kernels["oneDNN linear"] = lambda: torch.ops.mkldnn._linear_pointwise(self.a, self.b, None, "none",
                                                                                       [], "")
        self.samples = {name: [] for name in self.kernels}

    def measure(self, reps: int = 5) -> None:
        for name, kernel in self.kernels.items():
            kernel()
            start = clock(self.device)
            for _ in range(reps):
                kernel()
            self.samples[name].append(2 * self.size**3 * reps / (clock(self.device) - start))

    def peaks(self) -> dict[str, float]:
        return {name: statistics.median(s) for name, s in self.samples.items()}


def bench_model(label: str, overrides: list[str], torchvision: bool, args, gemm: Gemm, run_dir: Path) -> list[dict]:
    """Rows (one per candidate) for one network on one data set; the candidates run interleaved in rounds."""
    import lightning as L
    import torch

    cfg = compose_cfg(*overrides)
    L.seed_everything(cfg.seed, verbose=False)
    full = FullPath(cfg, run_dir)
    device = full.device
    network = copy.deepcopy(full.model)  # the same network, its own weights
    loops = [full, BareLoop("bare", network, full.data, cfg, full.precision, device)]
    if torchvision:
        from torchvision.models import resnet18

        tv = resnet18(num_classes=full.data.info.num_classes)
        loops.append(BareLoop("torchvision resnet18", tv, full.data, cfg, full.precision, device))
    times = {loop.name: [] for loop in loops}
    memory = {loop.name: 0.0 for loop in loops}
    for r in range(args.rounds):
        for loop in loops[r % len(loops):] + loops[:r % len(loops)]:  # rotate the order: no candidate always first
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            times[loop.name].append(loop.step_seconds(args.warmup, args.steps))
            if device.type == "cuda":
                memory[loop.name] = max(memory[loop.name], torch.cuda.max_memory_allocated(device) / 2**20)
        gemm.measure()
        print(f"[bench] {label} round {r + 1}/{args.rounds}: "
              + ", ".join(f"{k} {1e3 * v[-1]:.1f} ms/step" for k, v in times.items()), file=sys.stderr)
    x, y = loops[1].batch()
    flops = {loop.name: step_flops(loop.model, x, y) for loop in loops[1:]}
    flops["full"] = flops["bare"]
    if device.type == "cpu":
        memory = {loop.name: step_memory_mb(loop) for loop in loops[1:]}
        memory["full"] = memory["bare"]
    # Throughput ratios, medians of the per-round ratios: full path / bare loop; reslab / torchvision (same loop).
    ratios = {"full": ("full / bare", times["bare"], times["full"]),
              "torchvision resnet18": ("reslab / torchvision", times.get("torchvision resnet18"), times["bare"])}
    rows = []
    for loop in loops:
        t = statistics.median(times[loop.name])
        name, slower, faster = ratios.get(loop.name, ("", None, None))
        ratio = f"{name} {statistics.median(a / b for a, b in zip(slower, faster)):.3f}" if name else ""
        rows.append({"data": label, "candidate": loop.name, "params": sum(p.numel() for p in loop.model.parameters()),
                     "samples_s": cfg.batch_size / t, "ms_step": 1e3 * t, "ratio": ratio,
                     "flops_step": flops[loop.name], "flops_s": flops[loop.name] / t, "memory_mb": memory[loop.name]})
    return rows


def markdown(rows: list[dict], gemm: Gemm, settings: str) -> str:
    peaks = gemm.peaks()
    ceiling = max(peaks.values())
    lines = [f"Settings: {settings}", "",
             f"GEMM peak ({gemm.size}x{gemm.size}): " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in peaks.items()),
             "",
             "| data / model | candidate | params | samples/s | ms/step | ratio | GFLOP/step | GFLOP/s | "
             "of GEMM peak | memory MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['candidate']} | {r['params']:,} | {r['samples_s']:.0f} | {r['ms_step']:.1f}"
                     f" | {r['ratio']} | {r['flops_step'] / 1e9:.2f} | {r['flops_s'] / 1e9:.0f} | "
                     f"{r['flops_s'] / ceiling:.0%} | {r['memory_mb']:.0f} |")
    lines += ["", "ratio: throughput, median of the per-round ratios. FLOPs: convolutions and matmuls of forward + "
              "backward (FlopCounterMode). memory: on CUDA the peak allocated over the candidate's rounds; on the CPU "
              "parameters + gradients + optimizer state + the activations saved for the backward pass."]
    return "\n".join(lines) + "\n"


def compile_cost(label: str, overrides: list[str], steps: int, device_name: str = "cpu") -> dict:
    """What `task.compile=true` costs and gains for one network: the seconds its first training step and its first
    evaluation pass take beyond a compiled step's (the compile of the training graph and of the eval graph: a
    job pays both), and the eager and compiled step times (medians of `steps`, interleaved, after the first)."""
    import torch

    from reslab.tasks import build

    cfg = compose_cfg(*overrides, "task.compile=false", "task.channels_last=true")
    torch._dynamo.reset()
    data, task = build(cfg)
    device = torch.device(device_name)
    precision = "bf16-mixed" if device.type == "cuda" else "32-true"
    eager = BareLoop("eager", copy.deepcopy(task.model), data, cfg, precision, device)
    cfg.task.compile = True
    compiled = BareLoop("compiled", copy.deepcopy(task.model), data, cfg, precision, device)
    x_eval = data.splits.val.tensors[0][:cfg.batch_size].to(device).float()

    def evaluate(loop):
        loop.model.eval()
        with torch.no_grad(), loop.autocast:
            loop.net(x_eval.contiguous(memory_format=torch.channels_last))
        loop.model.train()

    first = {}
    for loop in (eager, compiled):
        start = clock(device)
        loop.train_step()
        first["train", loop.name] = clock(device) - start
        start = clock(device)
        evaluate(loop)
        first["eval", loop.name] = clock(device) - start
    times = {"eager": [], "compiled": []}
    for i in range(steps):
        for loop in (eager, compiled) if i % 2 == 0 else (compiled, eager):
            start = clock(device)
            loop.train_step()
            times[loop.name].append(clock(device) - start)
    step = {name: statistics.median(t) for name, t in times.items()}
    cost = first["train", "compiled"] - step["compiled"] + first["eval", "compiled"] - first["eval", "eager"]
    gain = step["eager"] - step["compiled"]
    return {"data": label, "eager_ms": 1e3 * step["eager"], "compiled_ms": 1e3 * step["compiled"],
            "gain_ms": 1e3 * gain, "compile_s": cost, "break_even_steps": cost / gain if gain > 0 else math.inf,
            "threads": torch.get_num_threads(), "device": device.type}


def compile_table(rows: list[dict]) -> str:
    lines = ["| data / model | device | eager ms/step | compiled ms/step | gain ms/step | compile s (train + eval) "
             "| steps to break even |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        even = f"{r['break_even_steps']:,.0f}" if math.isfinite(r["break_even_steps"]) else "never (no gain)"
        lines.append(f"| {r['data']} | {r['device']} ({r['threads']} threads) | {r['eager_ms']:.1f} | "
                     f"{r['compiled_ms']:.1f} | {r['gain_ms']:.1f} | {r['compile_s']:.1f} | {even} |")
    return "\n".join(lines) + "\n"


def denormal_case(reps: int = 20) -> str:
    """What `cpu.flush_denormal` (on by default) guards against: arithmetic on denormal floats, which many x86
    CPUs run far slower in IEEE mode. Two cases timed with flushing off and on, one thread, outputs preallocated
    (no page faults in the timing): products that underflow into denormals (x * x, x = 1e-20) and a conv + BN
    forward/backward on denormal activations (a no-shortcut net's exploding-then-vanishing signals)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    x, out = torch.full((1024, 1024), 1e-20), torch.empty(1024, 1024)
    conv, norm = torch.nn.Conv2d(16, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16)
    z = (torch.randn(32, 16, 16, 16) * 1e-39).requires_grad_()
    cases = {"x * x underflowing to denormals (1M)": lambda: torch.mul(x, x, out=out),
             "conv + BN fwd/bwd on denormals (32x16x16x16)": lambda: (norm(conv(z)) * 1e-30).sum().backward()}
    rows = []
    try:
        for name, case in cases.items():
            times = {}
            for flush in (False, True):
                torch.set_flush_denormal(flush)
                case()
                start = time.perf_counter()
                for _ in range(reps):
                    case()
                times[flush] = (time.perf_counter() - start) / reps
            rows.append(f"| {name} | {1e3 * times[False]:.2f} ms | {1e3 * times[True]:.2f} ms | "
                        f"{times[False] / times[True]:.2f}x |")
    finally:
        torch.set_flush_denormal(True)  # back to what every candidate ran with
        torch.set_num_threads(threads)
    return "\n".join(["| denormal case (1 thread) | flush off (IEEE) | flush on (reslab default) | off / on |",
                      "|---|---:|---:|---:|", *rows]) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet20", "resnet18"],
                        help="resnet<depth> networks timed on CIFAR-sized synthetic data (default: resnet20 resnet18)")
    parser.add_argument("--data", nargs="+", default=["synthetic", "digits"], choices=["synthetic", "digits"],
                        help="synthetic: 3x32x32, 10 classes, every --models; digits: the default run's data and "
                             f"network ({DIGITS_MODEL})")
    parser.add_argument("--torchvision", action=argparse.BooleanOptionalAction, default=True,
                        help="time torchvision's resnet18 next to reslab resnet18 (in --models)")
    parser.add_argument("--steps", type=int, default=15, help="timed training steps per candidate and round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them, every round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; figures are medians")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--compile", action="store_true", help="torch.compile every network (task.compile)")
    parser.add_argument("--channels-last", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--precision", default=None, choices=["32-true", "bf16-mixed"],
                        help="trainer.precision (default: reslab's choice, bf16-mixed on CUDA, else 32-true)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--compile-cost", action="store_true",
                        help="instead of the table above: what task.compile=true costs (first steps) and gains "
                             "(step time) for every --models on 32x32 and for digits")
    parser.add_argument("--gemm-size", type=int, default=GEMM_SIZE, help="side of the GEMMs timed for the peak")
    parser.add_argument("--out", type=Path, default=Path("bench.md"), help="the markdown table goes here too")
    parser.add_argument("--json", type=Path, default=None, help="the rows and settings as JSON (scripts/gpu_check.py)")
    args = parser.parse_args(argv)
    for model in args.models:
        if not (model.startswith("resnet") and model.removeprefix("resnet").isdigit()):
            parser.error(f"--models {model!r} is invalid: expected resnet<depth>, e.g. resnet20, resnet18")
    return args


def cases(args) -> list[tuple[str, list[str], bool]]:
    """(label, config overrides, whether torchvision's resnet18 runs beside it) of every timed network."""
    common = [f"batch_size={args.batch_size}", f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}",
              f"task.compile={args.compile}", f"task.channels_last={args.channels_last}", "epochs=30",
              *([f"trainer.precision={args.precision}"] if args.precision else [])]
    out = []
    if "synthetic" in args.data:
        out += [(f"synthetic 3x32x32 / {m}", ["dataset=synthetic", *model_overrides(m), *common],
                 args.torchvision and m == "resnet18") for m in args.models]
    if "digits" in args.data:
        out.append((f"digits 1x8x8 / {DIGITS_MODEL}", [*model_overrides(DIGITS_MODEL), *common], False))
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    import reslab.run  # noqa: F401 - the full path's libraries, imported before the heap is frozen, as in a job
    from reslab import host

    host.freeze_heap(first_only=True)  # as reslab.entry does: collections skip the imported objects
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # keep the per-fit notices off the terminal
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as every reslab training process (cpu.flush_denormal), for all candidates
    if args.compile_cost:
        rows = []
        for label, overrides, _ in cases(args):
            rows.append(compile_cost(label, overrides, args.steps, args.device))
            print(f"[bench] {compile_table(rows[-1:]).splitlines()[-1]}", file=sys.stderr, flush=True)
        table = compile_table(rows)
        args.out.write_text(table)
        write_json(args.json, {"compile_cost": rows})
        print(table)
        return
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32  # the training precision's matmul dtype
    gemm = Gemm(device, dtype, size=args.gemm_size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, overrides, torchvision) in enumerate(cases(args)):
            rows += bench_model(label, overrides, torchvision, args, gemm, Path(tmp) / str(i))
    settings = (f"device {args.device} ({torch.get_num_threads()} threads), batch {args.batch_size}, "
                f"{args.rounds} rounds x {args.steps} steps (+{args.warmup} warm-up), compile {args.compile}, "
                f"channels_last {args.channels_last}, torch {torch.__version__}")
    table = markdown(rows, gemm, settings)
    if args.device == "cpu":
        table += "\n" + denormal_case()
    args.out.write_text(table)
    write_json(args.json, {"settings": settings, "gemm": gemm.peaks(), "rows": rows})
    print(table)


def write_json(path: Path | None, data: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(data, indent=1, default=float))


if __name__ == "__main__":
    main()
