"""First and second run of a job on an image folder: the decoded-once cache (reslab.data.decoded_cache) at work.

    python scripts/folder_runs.py --images 5000 --rounds 5        # writes the folder once, then times the runs

Writes `--images` 32x32 PNGs (reslab's synthetic classes, 10 of them) into <work>/images/train/<class>/ once; then
each round times three whole `python train.py dataset=imagefolder` processes (start-up included), in turn: the
first run (an empty cache folder: every image decoded, the cache written), the second run (the cache read), and
the folder decoded on access by the DataLoader (dataset.decoded_max_mb=0), each with the same job settings.
Prints the medians and each one's metrics.json wall_time_s (the job without the process start).
"""
import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_folder(root: Path, images: int) -> None:
    import numpy as np
    from PIL import Image

    from reslab.data import synthetic

    one = 1 / (images + 2)  # the generator carves a val and a test split: one sample each, left out
    x, y = synthetic.load("image", 32, 3, 10, images + 2, 1.0, one, one, 0).train.tensors
    for i, (pixels, label) in enumerate(zip(x, y)):
        folder = root / "train" / f"class_{int(label)}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(pixels.permute(1, 2, 0).numpy())).save(folder / f"{i}.png")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/reslab-folder-runs"))
    parser.add_argument("--job", nargs="*", default=["epochs=2", "dataset.image_size=32", "logger=none"],
                        help="the job's overrides (default: epochs=2 dataset.image_size=32 logger=none)")
    args = parser.parse_args(argv)
    root = args.work / "images"
    if not (root / "train").is_dir():
        write_folder(root, args.images)
    cases = {"first run (decode + write cache)": ["dataset.decoded_max_mb=2048"],
             "second run (cache read)": ["dataset.decoded_max_mb=2048"],
             "DataLoader (decoded every epoch)": ["dataset.decoded_max_mb=0"]}
    times = {case: [] for case in cases}
    jobs = {case: [] for case in cases}
    for r in range(args.rounds):
        cache = args.work / "cache"
        shutil.rmtree(cache, ignore_errors=True)
        for case, extra in cases.items():
            run_dir = args.work / "runs" / f"{r}-{len(times[case])}-{case.split()[0]}"
            command = [sys.executable, str(ROOT / "train.py"), "dataset=imagefolder", f"dataset.root={root}",
                       f"dataset.cache_dir={cache}", *args.job, *extra, f"hydra.run.dir={run_dir}"]
            start = time.perf_counter()
            out = subprocess.run(command, cwd=args.work, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"error: {case} failed: {out.stderr[-1000:]}")
            times[case].append(time.perf_counter() - start)
            jobs[case].append(json.loads((run_dir / "metrics.json").read_text())["wall_time_s"])
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{c.split(' (')[0]} {t[-1]:.1f} s"
                                                          for c, t in times.items()), file=sys.stderr)
    print(f"{args.images} images of 32x32, job: {' '.join(args.job)}; medians of {args.rounds} rounds\n")
    print("| case | whole process s | job (metrics.json wall_time_s) s |\n|---|---:|---:|")
    for case in cases:
        print(f"| {case} | {statistics.median(times[case]):.1f} | {statistics.median(jobs[case]):.1f} |")


if __name__ == "__main__":
    main()
