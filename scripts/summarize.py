"""Summarise a sweep folder after the fact: `python scripts/summarize.py multirun/<date>/<time> [--target 0.95]`.

Writes summary.csv, curves.csv, the PNG figures, summary.md and report.html into the folder (what the end of a
sweep writes) and prints the tables. Works on unfinished or merged sweeps: every job folder below is read from disk.
"""
import argparse
from pathlib import Path

from reslab.sweep.report import summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the sweep folder (holds one folder per job)")
    parser.add_argument("--target", type=float, default=None,
                        help="time to target: the validation metric to reach (default: the sweep's summary.target, "
                             "else 99 %% of noshortcut's at the same other settings)")
    parser.add_argument("--loss-target", type=float, default=None,
                        help="time to target: the training loss to fall below (default: summary.loss_target, else 1)")
    args = parser.parse_args()
    if not args.folder.is_dir():
        parser.error(f"folder={str(args.folder)!r} is not a folder: pass a sweep folder such as multirun/<date>/<time>")
    try:
        path = summarize(args.folder, target=args.target, loss_target=args.loss_target)
    except (FileNotFoundError, ValueError) as error:  # an empty or foreign folder: one line, exit 2
        parser.exit(2, f"error: {error}\n")
    print(path.read_text().split("\n## Figures")[0])
    print(f"written: {path} (+ summary.csv, curves.csv, PNGs)")
    print(f"report: {(args.folder / 'report.html').resolve().as_uri()}")


if __name__ == "__main__":
    main()
