"""The multirun summary: a real small sweep (with a diverging and a failing job), and the tables and figures on a
sweep folder written by hand. Statistics: test_stats.py; curves, targets, frontier, report and HParams:
test_report.py."""
import csv
import json
import subprocess
import sys

import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from browser import check_page
from conftest import ROOT
from reslab.sweep import load_sweep
from reslab.sweep.report import summarize

TINY = ("epochs=1", "trainer.accelerator=cpu")


def _multirun(sweep_dir, *overrides):
    """`python train.py -m ...` run from the sweep's parent folder (relative data paths resolve there)."""
    out = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", *overrides, *TINY,
                          f"hydra.sweep.dir={sweep_dir}"],
                         cwd=sweep_dir.parent, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _valid_png(path) -> bool:
    with Image.open(path) as image:
        image.verify()
        return image.format == "PNG" and image.size[0] > 100


def _hparams(job_dir) -> tuple[dict, set]:
    """The hyperparameters a TensorBoard HParams tab shows for a run, and its scalar tags."""
    events = EventAccumulator(str(job_dir / "tensorboard")).Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return dict(start.hparams), set(events.Tags()["scalars"])


def test_a_real_sweep_ends_with_its_summary_and_survives_a_diverging_and_a_failing_job(tmp_path):
    sweep = tmp_path / "sweep"
    _multirun(sweep, "model=plain,noshortcut", "depth=8,14")
    # lr=1e12 blows the loss up at once; the image folder (data/images under tmp_path) is missing: the job raises
    out = _multirun(sweep, "model=plain", "depth=8", "logger=none", "lr=1e12", "dataset=digits,imagefolder")
    assert "summary.md" in out and "| model |" in out  # the answer is printed at the end of the sweep
    assert f"report: {(sweep / 'report.html').resolve().as_uri()}" in out  # and a link to the report

    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert len(rows) == 6
    statuses = sorted(row["status"] for row in rows)
    assert statuses == ["diverged", "failed", "ok", "ok", "ok", "ok"]
    failed = next(row for row in rows if row["status"] == "failed")
    assert "data/images" in failed["error"]
    assert next(row for row in rows if row["status"] == "diverged")["error"].startswith("non-finite")
    ok = [row for row in rows if row["status"] == "ok"]
    assert all(float(row["test/acc"]) > 0 and int(row["params"]) > 0 for row in ok)

    text = (sweep / "summary.md").read_text()
    assert "## Against `noshortcut`" in text and "one seed: run more" in text
    assert "## Jobs that did not finish" in text and "non-finite training loss" in text
    for name in ("depth.png", "curves_depth8.png", "curves_depth14.png", "frontier.png"):
        assert _valid_png(sweep / name), name
    assert (sweep / "report.html").is_file() and (sweep / "curves.csv").is_file()
    seen = check_page(sweep / "report.html", tmp_path)  # the real sweep's page in headless Chromium
    assert seen["images"] == len(list(sweep.glob("*.png"))) and seen["undecoded"] == [] and seen["errors"] == []
    assert seen["overflowing"] == [] and seen["scrollWidth"] <= seen["clientWidth"]

    # job folders carry the swept keys only (not epochs=1, trainer.accelerator=cpu), in the order given
    assert {p.name for p in sweep.iterdir() if p.is_dir()} == {
        "model=plain,depth=8", "model=plain,depth=14", "model=noshortcut,depth=8", "model=noshortcut,depth=14",
        "dataset=digits", "dataset=imagefolder"}
    job = sweep / "model=noshortcut,depth=14"
    hparams, scalars = _hparams(job)
    assert hparams["model"].string_value == "noshortcut" and hparams["depth"].string_value == "14"  # an integer
    assert hparams["seed"].string_value == "0" and hparams["width"].string_value == "null"  # seed not swept
    assert {"hp/val/acc", "hp/test/acc", "hp/train/loss", "train/loss_epoch"} <= scalars

    (sweep / "summary.md").unlink()
    out = subprocess.run([sys.executable, "scripts/summarize.py", str(sweep)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (sweep / "summary.md").read_text() == text


def _job(folder, overrides: dict, metrics: dict, num: int) -> None:
    """A finished job folder as Hydra and reslab leave it."""
    hydra = folder / ",".join(f"{k}={v}" for k, v in overrides.items()) / ".hydra"
    hydra.mkdir(parents=True)
    (hydra / "overrides.yaml").write_text("".join(f"- {k}={v}\n" for k, v in overrides.items()))
    (hydra / "hydra.yaml").write_text(f"hydra:\n  job:\n    num: {num}\n")
    (hydra / "config.yaml").write_text(f"depth: {overrides['depth']}\n")
    (hydra.parent / "metrics.json").write_text(json.dumps({"status": "ok", "monitor": "val/acc", **metrics}))


@pytest.fixture
def three_seed_sweep(tmp_path):
    """plain clearly beats noshortcut at depth 56; weighted at 56 only has one seed; depth 20 is a tie."""
    results = {("plain", 56): [0.97, 0.98, 0.975], ("noshortcut", 56): [0.70, 0.62, 0.75],
               ("weighted", 56): [0.96], ("plain", 20): [0.97, 0.96, 0.98], ("noshortcut", 20): [0.96, 0.98, 0.97]}
    num = 0
    for (model, depth), accuracies in results.items():
        for seed, acc in enumerate(accuracies):
            blocks = (depth - 2) // 2
            metrics = {"val/acc": acc, "test/acc": acc, "train/loss": 1 - acc, "params": 1000 * depth,
                       "history": [{"epoch": 0, "train/loss": 2.0}, {"epoch": 1, "train/loss": 1 - acc}],
                       "grad/first_step": [10.0 ** (i / blocks) for i in range(blocks)],
                       **({"wrc/alpha": [0.9] * blocks, "wrc/beta": [1.1] * blocks} if model == "weighted" else {})}
            _job(tmp_path, {"model": model, "depth": depth, "seed": seed}, metrics, num)
            num += 1
    return tmp_path


def _rows(text: str, title: str) -> dict[str, list[str]]:
    """The rows of one section of summary.md, by their first cell."""
    part = text.split(f"## {title}")[1].split("\n## ")[0]
    return {cells[0]: cells for line in part.splitlines() if line.startswith("| model=")
            for cells in [[c.strip() for c in line.split("|")[1:-1]]]}


def test_summary_gives_intervals_and_verdicts_against_noshortcut(three_seed_sweep):
    sweep = load_sweep(three_seed_sweep)
    assert sweep.keys == ["model", "depth"]
    assert [sweep.label(g) for g in sweep.groups][:2] == ["model=plain, depth=20", "model=noshortcut, depth=20"]
    text = summarize(three_seed_sweep).read_text()
    rows = _rows(text, "Against `noshortcut`")
    # columns: variant, seeds, Δ test [CI], p -> Holm, verdict, seeds needed, loss ratio [CI], p -> Holm, verdict, ...
    plain56, weighted56, plain20 = rows["model=plain, depth=56"], rows["model=weighted, depth=56"], rows[
        "model=plain, depth=20"]
    assert plain56[1] == "3 paired" and plain56[8] == "better"  # a tenfold lower loss, same seeds: clear
    # +0.285 accuracy is clear before correction (p = 0.019) but not after Holm over the m = 4 comparisons
    assert plain56[3] == "0.019 → 0.057" and plain56[4] == "no clear difference" and plain56[5].isdigit()
    assert "Holm-corrected over all m = 4 comparisons" in text
    assert weighted56[1] == "1 vs 3" and weighted56[4] == weighted56[8] == "one seed: run more"
    assert plain20[4] == plain20[8] == "no clear difference"
    assert plain20[5] == "effect too small to resolve with < 20 seeds"  # accuracy: identical means
    assert "| plain | 56 | 3/3 | **0.9750 ± 0.005** |" in text  # best at its depth, mean ± std over seeds
    # the answer first: per depth the best variant, what differs from noshortcut after Holm, what needs seeds
    assert text.split("\n")[2:5] == ["## The answer", "", "**depth=20**: best test/acc of 2 variants: `plain`, "
                                      "0.9700 ± 0.01 (3 seeds). Against `noshortcut`, after Holm over m = 4: test/acc: "
                                      "no clear difference: `plain` (needs ≥ 20 seeds). Final training loss (ratio): "
                                      "no clear difference: `plain` (needs ≥ 20 seeds)."]
    assert ("Final training loss (ratio): better: `plain` (×0.0807 [×0.0322, ×0.203]); one seed: run more: "
            "`weighted`.") in text and "test/acc: no clear difference: `plain` (needs 4 seeds); one seed" in text
    for name in ("depth.png", "curves_depth20.png", "curves_depth56.png", "grad_flow_depth20.png",
                 "grad_flow_depth56.png", "wrc.png", "frontier.png"):
        assert _valid_png(three_seed_sweep / name), name
