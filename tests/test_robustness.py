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
from reslab.errors import RefusedFile
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


def test_resume_of_missing_folder_or_a_file_fails_in_one_line_and_creates_nothing(tmp_path):
    out = train(f"resume={tmp_path / 'nope'}")
    assert_one_line_error(out, "does not exist")
    assert not (tmp_path / "nope").exists()
    (tmp_path / "file").write_text("")
    assert_one_line_error(train(f"resume={tmp_path / 'file'}"), "is a file, not a run folder")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(train(f"resume={tmp_path / 'empty'}"), "not a resumable run folder")


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


# ---- round three (issue 26): summaries and scripts on bad input, the memory-format probe ----------------------
def script(name, *args, cwd=ROOT, timeout=300):
    return subprocess.run([sys.executable, f"scripts/{name}", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def fake_job(sweep, seed, record, overrides=None, config=None):
    """A job folder as a sweep leaves it: .hydra/overrides.yaml, .hydra/config.yaml, metrics.json (text or dict)."""
    job = sweep / f"seed={seed}"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(overrides if overrides is not None else f"- seed={seed}\n")
    (job / ".hydra" / "config.yaml").write_text(config if config is not None else f"seed: {seed}\ndepth: 8\n")
    (job / "metrics.json").write_text(record if isinstance(record, str) else json.dumps(record))
    return job


def ok_record(value, **extra):
    return {"status": "ok", "monitor": "val/acc", "val/acc": value, "test/acc": value, "train/loss": 0.1,
            "epochs": 2, "history": [{"epoch": 0, "val/acc": value, "train/loss": 0.2}], **extra}


def test_8_a_nan_seed_is_counted_and_listed_not_averaged_away(tmp_path):
    from reslab.sweep.report import summarize

    sweep = tmp_path / "sweep"
    fake_job(sweep, 0, ok_record(0.9))
    fake_job(sweep, 1, '{"status": "ok", "monitor": "val/acc", "val/acc": NaN, "test/acc": NaN}')
    summary = summarize(sweep).read_text()
    assert "1/2" in summary and "2/2" not in summary, summary
    assert "malformed" in summary and "val/acc=nan is not a finite number" in summary


def test_9_summarize_on_an_empty_folder_is_one_line_and_exit_2(tmp_path):
    out = script("summarize.py", tmp_path)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        f"error: no job folders (with .hydra/overrides.yaml) under {tmp_path}"]


@pytest.mark.parametrize("breakage, listed", [("not an object", "metrics.json is not a JSON object"),
                                              ("overrides", "unreadable .hydra record"),
                                              ("config", "unreadable .hydra record"),
                                              ("monitor", "monitor=5 is not a key"), ("multirun", None),
                                              ("epoch", None)])
def test_9_summarize_lists_a_damaged_job_instead_of_a_traceback(tmp_path, breakage, listed):
    from reslab.sweep.report import summarize

    sweep = tmp_path / "sweep"
    fake_job(sweep, 0, ok_record(0.9))
    record = {"not an object": "[1, 2]", "monitor": ok_record(0.8, monitor=5),
              "epoch": ok_record(0.8, history=[{"epoch": "x", "val/acc": 0.8}])}.get(breakage, ok_record(0.8))
    fake_job(sweep, 1, record, overrides="- seed=1\n  : [\n" if breakage == "overrides" else None,
             config="depth: [8\n" if breakage == "config" else None)
    if breakage == "multirun":
        (sweep / "multirun.yaml").write_text("hydra: {overrides: [\n")
    summary = summarize(sweep).read_text()
    if listed:
        assert listed in summary, summary


def tiny_png(path, width, height, bits=8, rows=None):
    """A PNG whose header says width x height; `rows` rows of pixel data (all of them by default: the header is
    enough to read the size)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    colour = 0  # greyscale
    header = struct.pack(">IIBBBBB", width, height, bits, colour, 0, 0, 0)
    row = b"\0" + b"\0" * (width * bits // 8)
    data = zlib.compress(row * (rows or height))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def test_9_detect_reads_16_bit_images_and_refuses_huge_ones_before_decoding(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("detect_script", ROOT / "scripts" / "detect.py")
    detect = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(detect)
    image = detect.read_image(tiny_png(tmp_path / "deep.png", 16, 12, bits=16))
    assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 12, 16)
    with pytest.raises(RefusedFile, match="too large .8000x8000 pixels"):
        detect.read_image(tiny_png(tmp_path / "large.png", 8000, 8000, rows=1))
    with pytest.raises(RefusedFile, match="too large .Image size .400000000 pixels. exceeds limit"):
        detect.read_image(tiny_png(tmp_path / "huge.png", 20000, 20000, rows=1))


def test_10_scripts_exit_2_on_bad_input(tmp_path):
    out = script("detect.py", "a.png", "--run", tmp_path, "--threshold", "nan")
    assert out.returncode == 2 and "--threshold=nan" in out.stderr
    out = script("describe.py", "depth=7")
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith("error:"), out.stderr


def test_6_the_memory_format_probe_batch_is_bounded_by_the_training_set(make_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = make_cfg(*TINY, "batch_size=100000", "task.channels_last=auto", "diagnostics=off")
    record = run(cfg, tmp_path / "run")
    cache = json.loads((tmp_path / "cache" / "reslab" / "memory_format.json").read_text())
    batches = {int(key.rsplit("batch ", 1)[1]) for key in cache}
    assert record["status"] == "ok" and len(batches) == 1 and batches.pop() < 1797  # digits: 1797 samples in all
