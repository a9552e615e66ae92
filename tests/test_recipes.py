"""The recipes of docs/extending.md work as written: a data set and a block type of your own, each one Python module
(tests/recipes/stripes.py, halfsum.py) and one YAML file (tests/recipes/conf/), trained through train.py with a
callback of your own (tests/recipes/epochs.py) added on the command line."""
import json
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from conftest import CONF, ROOT
from reslab.config import validate
from reslab.errors import ConfigError

RECIPES = ROOT / "tests" / "recipes"
SEARCHPATH = f"hydra.searchpath=[file://{RECIPES / 'conf'}]"


def test_a_data_set_and_a_block_of_your_own_train_through_train_py(tmp_path):
    command = [sys.executable, "train.py", "dataset=stripes", "model=halfsum", "depth=8", "width=8", "epochs=3",
               "trainer.accelerator=cpu", "logger=csv", "+callbacks.count._target_=tests.recipes.epochs.CountEpochs",
               SEARCHPATH, f"hydra.run.dir={tmp_path}"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["test/acc"] >= 0.9, metrics  # stripes are easy to tell apart
    assert metrics["epochs_seen"] == 3  # the callback's summary()

    sys.path.insert(0, str(ROOT))  # where train.py found tests.recipes.*
    try:
        from reslab.models.network import build_model

        net = build_model("halfsum", 8, 8, (1, 8, 8), 2, module="tests.recipes.halfsum")
    finally:
        sys.path.remove(str(ROOT))
    blocks = [m for m in net.modules() if type(m).__name__ == "ResidualBlock"]
    assert blocks and all(b.merge == "scale" and b.alpha == 0.5 and b.beta == 1.0 for b in blocks)
    assert metrics["params"] == sum(p.numel() for p in net.parameters())  # the run trained this network


def test_the_options_of_your_own_data_set_follow_its_rules(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        good = compose(config_name="train", overrides=["dataset=stripes", "model=halfsum", SEARCHPATH])
        bad = compose(config_name="train", overrides=["dataset=stripes", "dataset.period=1", SEARCHPATH])
        lost = compose(config_name="train", overrides=["dataset=stripes", "dataset.module=no.such.module",
                                                       SEARCHPATH])
    validate(good)
    with pytest.raises(ConfigError, match=r"^dataset.period=1 is invalid: expected an integer >= 2$"):
        validate(bad)
    with pytest.raises(ConfigError, match=r"^dataset.module='no.such.module' does not import"):
        validate(lost)
