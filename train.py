"""reslab entry point: `python train.py [overrides]`, `python train.py -m ...` for sweeps (see README)."""
from pathlib import Path

import hydra

from reslab.entry import cli, job


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg) -> float:
    return job(cfg)


if __name__ == "__main__":
    cli(main, Path(__file__).resolve().parent / "conf")
