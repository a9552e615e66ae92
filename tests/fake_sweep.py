"""A sweep folder in the on-disk format of a real multirun (job folders with .hydra/overrides.yaml, hydra.yaml,
config.yaml and metrics.json with a per-epoch history), written in milliseconds instead of trained in minutes:
the report's figure, page and browser tests read it as `summarize` reads any sweep."""
import json
import math
import random
from pathlib import Path

from omegaconf import OmegaConf


def write_sweep(folder: Path, variants=("plain", "weighted", "csp", "noshortcut"), seeds=(0, 1), depths=(20,),
                epochs: int = 6, key: str = "model", equal_cost: bool = False, grad: bool = True) -> Path:
    """One job per (variant, depth, seed): val/acc rising towards a variant's level with seed noise, a training
    loss falling geometrically, seconds per epoch, costs (the same for every variant when `equal_cost`)."""
    folder = Path(folder)
    num = 0
    for depth in depths:
        for v, variant in enumerate(variants):
            for seed in seeds:
                rng = random.Random(f"{variant}-{depth}-{seed}")
                level = 0.97 - 0.04 * v - (0.15 if variant == "noshortcut" and depth > 20 else 0.0)
                history, t = [], 0.0
                for epoch in range(epochs):
                    t += 2.0 + 0.3 * v + rng.random()
                    acc = min(0.999, level * (1 - math.exp(-(epoch + 1) / 1.5)) + rng.gauss(0, 0.01))
                    loss = 2.3 * math.exp(-(epoch + 1) * (0.9 - 0.1 * v)) * (1 + 0.3 * rng.random())
                    history.append({"epoch": epoch, "train/loss": loss, "val/acc": max(0.0, acc),
                                    "time_s": round(t, 3)})
                blocks = (depth - 2) // 2
                cost = 1.0 if equal_cost else 1.0 - 0.1 * v
                metrics = {"status": "ok", "monitor": "val/acc", "history": history,
                           "val/acc": max(r["val/acc"] for r in history), "test/acc": history[-1]["val/acc"] - 0.002,
                           "train/loss": history[-1]["train/loss"], "params": round(270_000 * depth / 20 * cost),
                           "flops": 4.1e7 * depth / 20 * cost, "throughput": 900.0 / cost + 40 * rng.random(),
                           "epochs": epochs, "wall_time_s": t}
                if grad:
                    metrics["grad/first_step"] = [10.0 ** ((i / blocks) * (1 + v)) for i in range(blocks)]
                overrides = {key: variant, **({"depth": depth} if len(depths) > 1 else {}), "seed": seed}
                job = folder / ",".join(f"{k}={x}" for k, x in overrides.items())
                (job / ".hydra").mkdir(parents=True)
                (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {k}={x}\n" for k, x in overrides.items()))
                (job / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  job:\n    num: {num}\n")
                OmegaConf.save(OmegaConf.create({"depth": depth, "seed": seed}), job / ".hydra" / "config.yaml")
                (job / "metrics.json").write_text(json.dumps(metrics))
                num += 1
    return folder
