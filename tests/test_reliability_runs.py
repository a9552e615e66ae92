"""Nothing lost: run folders that cannot collide or be shared, resumes from moved copies and broken checkpoints,
finished records left alone, sweeps re-run in their folder, and real SIGKILLs at several points of a run."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT

SHORT = ("depth=8", "epochs=2", "logger=none", "trainer.accelerator=cpu")
TIMING = ("wall_time_s", "throughput", "peak_mem_mb")
# fault injection: tests/faults.py on the path of the runs
FAULTS = {**os.environ,
          "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))}


def train(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def metrics(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def final(folder) -> dict:
    return {k: v for k, v in metrics(folder).items() if k not in TIMING}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished") / "run"
    out = train(*SHORT, f"hydra.run.dir={folder}")
    assert out.returncode == 0, out.stderr[-2000:]
    return folder


def test_folders_started_in_the_same_second_differ(tmp_path):
    code = "from reslab.outdir import make_unique; print(make_unique('outputs/same'))"
    names = [subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
             for _ in range(3)]
    assert names == ["outputs/same", "outputs/same-2", "outputs/same-3"]
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["same", "same-2", "same-3"]


def test_resolvers_create_nothing(tmp_path):
    code = ("from reslab.config.resolvers import run_folder, unique_dir; "
            "print(unique_dir('outputs/same'), run_folder(None, 'outputs/other'), run_folder('r', 'x'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout.split() == ["outputs/same", "outputs/other", "r"] and not list(tmp_path.iterdir())


def test_a_second_process_in_a_run_folder_is_refused_naming_the_holder(tmp_path):
    code = ("import sys, time; from reslab.run_files import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        out = train(*SHORT, f"hydra.run.dir={tmp_path}")
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
        assert f"in use by process {holder.pid}" in out.stderr
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "metrics.json").exists()


def test_resuming_a_finished_run_leaves_its_record_alone(finished, tmp_path):
    copy = tmp_path / "moved"
    shutil.copytree(finished, copy)
    before = (copy / "metrics.json").read_bytes()
    out = train(f"resume={copy}")
    assert out.returncode == 0 and "already finished" in out.stdout
    assert (copy / "metrics.json").read_bytes() == before


def test_a_moved_copy_resumes_where_it_stopped_and_keeps_its_best(finished, tmp_path):
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(finished, copy)
    out = train(f"resume={copy}", "epochs=3")
    assert out.returncode == 0, out.stderr[-2000:]
    original, extended = metrics(finished), metrics(copy)
    assert extended["epochs"] == 3 and extended["history"][:2] == original["history"]  # continued, not retrained
    best = max(row["val/acc"] for row in extended["history"])
    assert extended["val/acc"] == pytest.approx(best)  # the best score came along with the moved folder
    assert metrics(finished) == original  # the original folder is untouched


def test_a_refused_resume_override_is_not_written(finished, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    saved = (copy / ".hydra" / "config.yaml").read_text()
    out = train(f"resume={copy}", "lr=nan")
    assert out.returncode == 2 and "lr=nan" in out.stderr
    assert (copy / ".hydra" / "config.yaml").read_text() == saved
    assert train(f"resume={copy}").returncode == 0  # still resumable


def test_a_truncated_last_checkpoint_resumes_from_the_intact_best(finished, tmp_path):
    copy = tmp_path / "broken"
    shutil.copytree(finished, copy)
    last = copy / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:5000])
    out = train(f"resume={copy}", "epochs=3")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "skipped checkpoints/last.ckpt: truncated file" in out.stderr
    assert metrics(copy)["status"] == "ok" and metrics(copy)["epochs"] == 3


KILLABLE = ("depth=14", "epochs=4", "trainer.accelerator=cpu", "trainer.log_every_n_steps=1")


def scalars(folder, tag):
    return [(e.step, e.value) for e in EventAccumulator(str(folder / "tensorboard")).Reload().Scalars(tag)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference") / "run"
    assert train(*KILLABLE, f"hydra.run.dir={folder}").returncode == 0
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("point", ["batch", "checkpoint", "test"])
def test_a_run_killed_at_any_point_resumes_to_the_uninterrupted_result(reference, tmp_path, point):
    env = FAULTS
    killed = tmp_path / "killed"
    out = train(*KILLABLE, "+callbacks.kill._target_=faults.KillAt", f"+callbacks.kill.point={point}",
                f"hydra.run.dir={killed}", env=env)
    assert out.returncode == -signal.SIGKILL and not (killed / "metrics.json").exists()
    out = train(f"resume={killed}", env=env)  # KillAt kills once per folder
    assert out.returncode == 0, out.stderr[-2000:]
    assert final(killed) == final(reference)
    steps = [step for step, _ in scalars(killed, "train/loss")]
    assert steps == sorted(set(steps)) == [step for step, _ in scalars(reference, "train/loss")]


@pytest.mark.slow
def test_killed_the_moment_metrics_json_is_complete_the_records_are_complete(tmp_path):
    """The loggers' final records (HParams hp/* metrics) are written and flushed before metrics.json."""
    for attempt in range(3):
        folder = tmp_path / str(attempt)
        proc = subprocess.Popen([sys.executable, "train.py", *SHORT[:2], "trainer.accelerator=cpu",
                                 f"hydra.run.dir={folder}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None and not (folder / "metrics.json").exists():
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        tags = set(EventAccumulator(str(folder / "tensorboard")).Reload().Tags()["scalars"])
        assert {"hp/val/acc", "hp/test/acc", "hp/train/loss"} <= tags, tags


@pytest.mark.slow
def test_a_sweep_re_run_in_its_folder_skips_finished_jobs_and_continues_killed_ones(tmp_path):
    sweep = tmp_path / "sweep"
    command = [sys.executable, str(ROOT / "train.py"), "-m", "model=plain,noshortcut", *SHORT,
               f"hydra.sweep.dir={sweep}"]
    assert subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=600).returncode == 0
    (sweep / "multirun.yaml").write_text((sweep / "multirun.yaml").read_text().replace(  # as if killed before
        "model=plain,noshortcut", "model=plain,noshortcut,csp"))                        # a third job started
    summary = subprocess.run([sys.executable, "scripts/summarize.py", str(sweep)], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert "| model=csp | never started |" in summary.stdout, summary.stdout[-3000:]
    done, killed = sweep / "model=plain", sweep / "model=noshortcut"
    kept = (done / "metrics.json").read_bytes()
    reference = final(killed)
    (killed / "metrics.json").unlink()  # as if killed after its last checkpoint
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "already finished" in out.stdout and (done / "metrics.json").read_bytes() == kept
    assert final(killed)["history"] == reference["history"]


def test_runs_never_write_into_the_current_folder_and_a_missing_gpu_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "train.py"), "hydra.run.dir="], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "hydra.run.dir=''" in out.stderr and not list(tmp_path.iterdir())
    import torch

    if not torch.cuda.is_available():
        out = train("trainer=gpu", *SHORT[:2], f"hydra.run.dir={tmp_path / 'gpu'}")
        assert out.returncode == 2 and out.stderr.strip().splitlines() == \
            ["error: MisconfigurationException: No supported gpu backend found!"]


def test_last_checkpoint_is_written_every_epoch_whatever_the_validation_metric(make_cfg, tmp_path):
    """last.ckpt comes from its own checkpoint callback (no monitor, every epoch), not from the best one's
    `save_last`, which writes only when the monitored metric improves."""
    import torch

    from reslab.run import run

    cfg = make_cfg("depth=8", "epochs=3", "logger=none", "diagnostics=off", "callbacks.checkpoint.mode=min")
    run(cfg, tmp_path)  # mode=min on val/acc: the best epoch is the worst one, yet last.ckpt is the last epoch
    load = lambda name: torch.load(tmp_path / "checkpoints" / name, map_location="cpu", weights_only=True)  # noqa: E731
    assert cfg.callbacks.last.monitor is None and cfg.callbacks.last.every_n_epochs == 1
    assert load("last.ckpt")["global_step"] == 27  # every step of the 3 epochs (rewritten once more at the end)
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    worst = min(range(3), key=lambda e: (history[e]["val/acc"], e))  # the first of equals: a tie is no improvement
    assert load("best.ckpt")["epoch"] == worst


@pytest.mark.slow
def test_a_killed_parallel_worker_is_recorded_the_sweep_summarised_and_finished_by_a_re_run(tmp_path):
    sweep = tmp_path / "sweep"
    command = [sys.executable, str(ROOT / "train.py"), "-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2",
               "seed=0,1", "depth=8", "epochs=15", "logger=none", "trainer.accelerator=cpu",
               f"hydra.sweep.dir={sweep}"]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job, deadline = sweep / "seed=0", time.time() + 300
    while time.time() < deadline and not (job / "checkpoints" / "last.ckpt").exists():
        time.sleep(0.1)
    os.kill(int((job / ".lock").read_text()), signal.SIGKILL)  # the worker process holding the job's folder
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "summary of the interrupted sweep" in err, err[-3000:]
    record = metrics(job)
    assert record["status"] == "failed" and "interrupted" in record["error"] and "SIGKILL" in record["error"]
    assert "failed" in (sweep / "summary.md").read_text()
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert metrics(sweep / "seed=0")["status"] == metrics(sweep / "seed=1")["status"] == "ok"


# ---- round three (issue 26): one test per numbered item --------------------------------------------------------


def last_line(out) -> str:
    return [line for line in out.stderr.splitlines() if line.strip()][-1]


def test_1_a_single_run_refuses_a_folder_holding_another_run(finished, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    out = train(*SHORT, "epochs=3", "seed=5", f"hydra.run.dir={copy}")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr[-2000:]
    assert "holds another run (ok, 2 epochs)" in out.stderr and f"resume={copy}" in out.stderr
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before  # .hydra/ included
    (copy / "metrics.json").unlink()  # killed: only its checkpoints
    out = train(*SHORT, f"hydra.run.dir={copy}")
    assert out.returncode == 2 and "holds another run (checkpoints, not finished)" in out.stderr


def test_1_a_sweep_re_run_with_other_settings_leaves_the_finished_job_folder_as_it_was(tmp_path):
    # Hydra's basic launcher rewrites a job's .hydra files before the job can refuse the folder: they are put back.
    sweep = tmp_path / "sweep"
    out = train("-m", *SHORT, "epochs=1", "seed=0", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 0, out.stderr[-2000:]
    job = sweep / "0"  # one job: nothing swept, the folder is numbered
    before = {p: p.read_bytes() for p in job.rglob("*") if p.is_file()}
    assert job / ".hydra" / "config.yaml" in before and job / "metrics.json" in before
    out = train("-m", *SHORT, "epochs=1", "depth=14", "seed=0", f"hydra.sweep.dir={sweep}")
    assert "holds a run of another configuration" in out.stderr, out.stderr[-2000:]
    assert {p: p.read_bytes() for p in job.rglob("*") if p.is_file()} == before  # .hydra/ included


@pytest.mark.slow
def test_1_unrelated_files_in_a_chosen_folder_are_left_alone(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    out = train(*SHORT, "epochs=1", f"hydra.run.dir={mine}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert (mine / "notes.txt").read_text() == "mine" and metrics(mine)["status"] == "ok"


@pytest.mark.slow
def test_2_a_fine_tuning_run_keeps_its_own_best_ends_ok_and_resumes_after_a_kill(finished, tmp_path):
    """lr=1e-9: the new run never beats the source's best val/acc (the old failure: best.ckpt named but never
    written); killed by SIGKILL in its second epoch, then `resume=` alone continues it (not "exclusive")."""
    source = finished / "checkpoints" / "best.ckpt"
    tuned = tmp_path / "tuned"
    out = train(*SHORT, "epochs=4", "lr=1e-9", f"ckpt_path={source}", "+callbacks.kill._target_=faults.KillAt",
                "+callbacks.kill.point=batch", "+callbacks.kill.epoch=3", f"hydra.run.dir={tuned}", env=FAULTS)
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    out = train(f"resume={tuned}", env=FAULTS)
    assert out.returncode == 0, out.stderr[-2000:]
    record = metrics(tuned)
    assert record["status"] == "ok" and record["epochs"] == 4 and len(record["history"]) == 4
    assert (tuned / "checkpoints" / "best.ckpt").is_file()  # its own, from its own epochs
    assert torch_load(tuned / "checkpoints" / "best.ckpt")["epoch"] >= 2
    assert record["val/acc"] == pytest.approx(max(row["val/acc"] for row in record["history"][2:]))


def torch_load(path):
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_2_a_fine_tuning_run_from_a_non_finite_checkpoint_is_diverged(finished, tmp_path):
    import torch

    ckpt = torch_load(finished / "checkpoints" / "last.ckpt")
    name = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point() and v.dim() > 1)
    ckpt["state_dict"][name][0] = float("nan")
    broken = tmp_path / "nan.ckpt"
    torch.save(ckpt, broken)
    out = train(*SHORT, "epochs=3", f"ckpt_path={broken}", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert metrics(tmp_path / "run")["status"] == "diverged"


@pytest.mark.parametrize("override", ["depth=20", "model.block=csp", "seed=7",
                                      pytest.param("dataset=wine", marks=pytest.mark.slow),
                                      pytest.param("ckpt_path=x.ckpt", marks=pytest.mark.slow)])
def test_3_and_7_a_refused_resume_changes_nothing_in_the_run_folder(finished, tmp_path, override):
    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    saved = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file() and p.name != "train.log"}
    out = train(f"resume={copy}", "epochs=4", override)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr[-2000:]
    assert override.split("=")[0] in out.stderr
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file() and p.name != "train.log"} == saved


@pytest.mark.parametrize("sig, code", [("SIGTERM", 143), pytest.param("SIGINT", 130, marks=pytest.mark.slow)])
def test_4_a_signal_stops_the_run_records_it_and_the_run_resumes_to_the_same_result(finished, tmp_path, sig, code):
    stopped = tmp_path / "stopped"
    out = train(*SHORT, "+callbacks.kill._target_=faults.KillAt", "+callbacks.kill.point=batch",
                f"+callbacks.kill.sig={sig}", f"hydra.run.dir={stopped}", env=FAULTS)
    assert out.returncode == code, out.stderr[-2000:]
    assert last_line(out) == f"[reslab] stopped by {sig}: continue it (from checkpoints/last.ckpt) with: " \
                             f"python train.py resume={stopped}"
    record = metrics(stopped)
    assert record["status"] == "interrupted" and record["signal"] == sig and record["epochs"] == 1
    if sig == "SIGINT":  # the same path for both; one resume is enough
        out = train(f"resume={stopped}", env=FAULTS)
        assert out.returncode == 0, out.stderr[-2000:]
        assert final(stopped) == final(finished)


@pytest.mark.slow
def test_4_a_sweep_under_sigterm_exits_non_zero_with_its_summary_and_the_killed_job_recorded(tmp_path):
    sweep = tmp_path / "sweep"
    out = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", "seed=0,1", *SHORT,
                          "+callbacks.kill._target_=faults.KillAt", "+callbacks.kill.point=batch",
                          "+callbacks.kill.sig=SIGTERM", f"hydra.sweep.dir={sweep}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600, env=FAULTS)
    assert out.returncode == 143, out.stderr[-3000:]
    assert "summary of the interrupted sweep" in out.stderr and "hydra.sweep.dir=" in out.stderr
    record = metrics(sweep / "seed=0")
    assert record["status"] == "interrupted" and record["signal"] == "SIGTERM"
    summary = (sweep / "summary.md").read_text()
    assert "interrupted" in summary and "| seed=1 | never started |" in summary, summary


@pytest.mark.slow
def test_10_a_run_stopped_before_its_first_checkpoint_resumes_from_the_start(finished, tmp_path):
    stopped = tmp_path / "stopped"
    out = train(*SHORT, "+callbacks.kill._target_=faults.KillAt", "+callbacks.kill.point=batch",
                "+callbacks.kill.epoch=0", "+callbacks.kill.sig=SIGINT", f"hydra.run.dir={stopped}", env=FAULTS)
    assert out.returncode == 130 and "(from its first epoch)" in last_line(out), out.stderr[-2000:]
    out = train(f"resume={stopped}", env=FAULTS)
    assert out.returncode == 0, out.stderr[-2000:]
    assert final(stopped) == final(finished)
