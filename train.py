"""reslab entry point: `python train.py [overrides]`, `python train.py -m ...` for sweeps."""
import hydra

from reslab.train import job


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg) -> float:
    return job(cfg)


if __name__ == "__main__":
    main()
