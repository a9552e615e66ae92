"""Loss landscape and Hessian curvature of a trained run, or of every run of a sweep side by side.

    python scripts/landscape.py outputs/<date>/<time>                        # one run: 2-D, 25 x 25 points
    python scripts/landscape.py multirun/<date>/<time> --only depth=56 --only seed=0

A run folder gets landscape.npz, landscape.json (curvature/* figures) and landscape_contour.png +
landscape_surface.png (landscape_line.png with --dims 1). A sweep folder gets the same in each finished job's
folder (reused when already computed with the same settings) and landscape_panel.png: one landscape per job on
one colour scale, variants (model=...) in columns.
"""
import argparse
from pathlib import Path

from reslab.errors import UsageError, run_or_sweep
from reslab.landscape.plots import plot_panel
from reslab.landscape.run import run_landscape


def _sweep_cells(folder: Path, only: list[str], run) -> dict:
    """{(row label, variant): landscape} for the finished jobs of a sweep matching every `key=value` of `only`."""
    from reslab.sweep import FINISHED, load_sweep

    sweep = load_sweep(folder)
    wanted = dict(item.split("=", 1) for item in only)
    jobs = [job for job in sweep.jobs if job.status == FINISHED
            and all(job.overrides.get(k) == v for k, v in wanted.items())]
    if not jobs:
        raise UsageError(f"no finished job in {str(folder)!r} matches --only {' '.join(only) or '(none)'}")
    variant = sweep.variant_key
    varying = [k for k in jobs[0].overrides if k != variant and len({j.overrides.get(k) for j in jobs}) > 1]
    cells = {}
    for job in jobs:
        row = ", ".join(f"{k}={job.overrides.get(k)}" for k in varying)
        column = f"{variant}={job.overrides[variant]}" if variant else ""
        cells[(row, column)] = run(job.path)
    return dict(sorted(cells.items(), key=lambda item: _numbers_first(item[0][0])))


def _numbers_first(label: str) -> tuple:
    """Row order: depth=20 before depth=110 (numbers compared as numbers)."""
    parts = [part.split("=", 1)[-1] for part in label.split(", ")]
    return tuple((0, float(p), "") if p.replace(".", "", 1).isdigit() else (1, 0.0, p) for p in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a run folder (holds .hydra/ and checkpoints/) or a sweep folder")
    parser.add_argument("--dims", type=int, choices=(1, 2), default=2, help="random directions (default 2)")
    parser.add_argument("--points", type=int, default=25, help="points per direction (odd: the centre is on the grid)")
    parser.add_argument("--span", type=float, default=1.0, help="the grid runs from -span to +span (default 1)")
    parser.add_argument("--samples", type=int, default=2048, help="training samples evaluated (default 2048)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the directions and the sample (default 0)")
    parser.add_argument("--checkpoint", default="last", help="last (final weights, default), best or a .ckpt path")
    parser.add_argument("--iterations", type=int, default=100,
                        help="most power iterations per Hessian eigenvalue; 0 skips the curvature (default 100)")
    parser.add_argument("--hessian-samples", type=int, default=512,
                        help="the first N of the samples measure the curvature (default 512, as landscape=on)")
    parser.add_argument("--only", action="append", default=[], metavar="KEY=VALUE",
                        help="sweep folder: only the jobs with this override (repeatable), e.g. --only depth=56")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    args = parser.parse_args()
    for name in ("points", "samples", "hessian_samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)} is invalid: expected an integer > 0")
    if args.iterations < 0 or args.span <= 0:
        parser.error("--iterations must be >= 0 and --span > 0")
    if any("=" not in item for item in args.only):
        parser.error(f"--only {args.only} is invalid: expected KEY=VALUE, e.g. --only depth=56")

    def run(folder: Path) -> dict:
        return run_landscape(folder, args.dims, args.points, args.span, args.samples, args.seed,
                             args.checkpoint, args.iterations, args.hessian_samples, args.device)

    def on_run(folder: Path) -> None:
        info = run(folder)["info"]
        print("\n".join(f"{k}: {v}" for k, v in info.items() if k != "settings"))
        print(f"written: {folder}/landscape.npz, landscape.json and PNGs")

    def on_sweep(folder: Path) -> None:
        path = plot_panel(_sweep_cells(folder, args.only, run), folder / "landscape_panel.png")
        print(f"written: {path} (+ landscape.npz/json/PNGs in each job folder)")

    run_or_sweep(args.folder, on_run, on_sweep)


if __name__ == "__main__":
    main()
