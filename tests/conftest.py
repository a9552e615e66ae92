"""Shared fixtures: a real Hydra compose of conf/train.yaml, and a helper to run a job in a folder."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


@pytest.fixture
def make_cfg():
    """`make_cfg("model=csp", "depth=18")` -> the composed DictConfig, as `python train.py ...` would see it."""

    def _compose(*overrides: str):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name="train", overrides=list(overrides))

    return _compose
