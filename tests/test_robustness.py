"""Nothing lost, nothing cryptic: bad input fails in one line, killed runs resume, same seed -> same metrics."""
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT
from reslab.run import run

TINY = ("depth=8", "epochs=1", "logger=none", "trainer.accelerator=cpu")


def train(*args, cwd=ROOT, timeout=300):
    return subprocess.run([sys.executable, "train.py", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(out, *fragments):
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("override, fragment", [
    ("depth=7", "depth=7"),
    ("width=0", "width=0"),
    ("epochs=-1", "epochs=-1"),
    ("epochs=1.5", "epochs=1.5"),
    ("batch_size=0", "batch_size=0"),
    ("lr=0", "lr=0"),
    ("lr=fast", "lr='fast'"),
    ("optim.name=adam", "sgd, adamw"),
    ("model.shortcut=identity", "projection, zeropad"),
    ("dataset=cifar10", "dataset.download=true"),
])
def test_bad_value_fails_in_one_line(tmp_path, override, fragment):
    out = train(override, f"hydra.run.dir={tmp_path}")
    assert_one_line_error(out, fragment)
    assert out.returncode == 2


def test_unknown_group_option_lists_the_choices(tmp_path):
    out = train("model=resnet", f"hydra.run.dir={tmp_path}")
    assert out.returncode != 0
    assert "model/resnet" in out.stderr and "noshortcut" in out.stderr and "Traceback" not in out.stderr


def _image_folder(root, classes, corrupt=False):
    for name in classes:
        folder = root / "train" / name
        folder.mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(folder / f"{i}.png")
    if corrupt:
        (root / "train" / classes[0] / "broken.png").write_bytes(b"not an image")
    return root


def test_bad_data_folders_fail_in_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    one = _image_folder(tmp_path / "one", ["cat"])
    broken = _image_folder(tmp_path / "broken", ["cat", "dog"], corrupt=True)
    for root, fragment in [(empty, "train"), (one, "class"), (broken, "broken.png")]:
        out = train("dataset=imagefolder", f"dataset.root={root}", f"hydra.run.dir={tmp_path / 'run'}")
        assert_one_line_error(out, fragment)
    out = train("num_classes=3", *TINY, f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(out, "num_classes=3", "10 classes")


def test_unwritable_output_folder_fails_before_writing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = train(*TINY, f"hydra.run.dir={blocker}/run")
    assert_one_line_error(out, "not writable")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished")
    out = train(*TINY, f"hydra.run.dir={folder}")
    assert out.returncode == 0, out.stderr[-2000:]
    return folder


def test_bad_checkpoints_fail_in_one_line(tmp_path, finished_run):
    last = finished_run / "checkpoints" / "last.ckpt"
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(last.read_bytes()[:1000])
    cases = [(tmp_path / "missing.ckpt", ("does not exist",), TINY),
             (corrupt, ("not readable",), TINY),
             (last, ("another architecture",), ("depth=14", *TINY[1:]))]
    for path, fragments, args in cases:
        out = train(*args, f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'run'}")
        assert_one_line_error(out, str(path.name), *fragments)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    crafted = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {}, "payload": _RunsCode()}, crafted)
    out = train(*TINY, f"ckpt_path={crafted}", f"hydra.run.dir={tmp_path / 'run'}", cwd=ROOT)
    assert_one_line_error(out, "refused")
    assert not (ROOT / "pwned").exists()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(crafted, weights_only=True)


def test_resume_of_missing_folder_fails_in_one_line(tmp_path):
    out = train(f"resume={tmp_path / 'nope'}")
    assert_one_line_error(out, "not a resumable run folder")


RESUMABLE = ("depth=14", "epochs=4", "trainer.accelerator=cpu", "trainer.log_every_n_steps=1")


def _scalars(folder, tag):
    return [(e.step, e.value) for e in EventAccumulator(str(folder / "tensorboard")).Reload().Scalars(tag)]


def _final(folder):
    metrics = json.loads((folder / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in ("wall_time_s", "throughput", "peak_mem_mb")}


def test_killed_run_resumes_to_the_same_result(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert train(*RESUMABLE, f"hydra.run.dir={reference}").returncode == 0
    proc = subprocess.Popen([sys.executable, "train.py", *RESUMABLE, f"hydra.run.dir={killed}"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists()
    out = train(f"resume={killed}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert _final(killed) == _final(reference)
    steps = [step for step, _ in _scalars(killed, "train/loss")]
    assert steps == sorted(set(steps)) == [step for step, _ in _scalars(reference, "train/loss")]


def test_same_seed_gives_identical_metrics(make_cfg, tmp_path):
    for name in ("a", "b"):
        run(make_cfg(*TINY, "seed=3"), tmp_path / name)
    assert _final(tmp_path / "a") == _final(tmp_path / "b")
    versions = json.loads((tmp_path / "a" / "versions.json").read_text())
    assert torch.__version__.startswith(versions["torch"])
