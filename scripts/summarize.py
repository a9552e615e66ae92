"""Summarise a sweep folder after the fact: `python scripts/summarize.py multirun/<date>/<time>`.

Writes summary.csv, summary.md and the PNG figures into the folder (what the end of a sweep writes) and prints
the tables. Works on unfinished or merged sweeps: every job folder below is read from disk.
"""
import argparse
from pathlib import Path

from reslab.sweep import summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the sweep folder (holds one folder per job)")
    args = parser.parse_args()
    if not args.folder.is_dir():
        parser.error(f"folder={str(args.folder)!r} is not a folder: pass a sweep folder such as multirun/<date>/<time>")
    path = summarize(args.folder)
    print(path.read_text().split("\n## Figures")[0])
    print(f"written: {path} (+ summary.csv and PNGs)")


if __name__ == "__main__":
    main()
