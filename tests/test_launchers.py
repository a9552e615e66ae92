"""Sweeps on other launchers (reslab's parallel launcher: isolated jobs, GPU slots; submitit's local executor), the optuna search preset (its study
continued by a re-run, also after a kill), and Lightning DDP with 2 CPU processes launched by Hydra, in a single run
and in a multirun."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

TINY = ("depth=8", "epochs=1", "logger=none", "trainer.accelerator=cpu")


def _train(cwd, *args):
    """`python train.py ...` run from `cwd`, so that any stray output folder would land there."""
    out = subprocess.run([sys.executable, str(ROOT / "train.py"), *args, *TINY], cwd=cwd, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _finished_jobs(sweep) -> list:
    jobs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    assert all(json.loads((job / "metrics.json").read_text())["status"] == "ok" for job in jobs)
    return jobs


def test_parallel_launcher_runs_two_jobs_at_once_each_with_its_own_gpus(tmp_path):
    sweep = tmp_path / "sweep"  # 4 GPU ids named on a CPU machine, 2 per job: what each job sees is recorded
    _train(tmp_path, "-m", "hydra/launcher=parallel", "seed=0,1", "hydra.launcher.devices=[0,1,2,3]",
           "hydra.launcher.gpus_per_job=2", f"hydra.sweep.dir={sweep}")
    jobs = _finished_jobs(sweep)
    assert len(jobs) == 2
    # a job starts when Hydra writes its config and ends with metrics.json: the two spans overlap
    (start_a, end_a), (start_b, end_b) = (
        ((job / ".hydra" / "config.yaml").stat().st_mtime, (job / "metrics.json").stat().st_mtime) for job in jobs)
    assert start_a < end_b and start_b < end_a
    seen = sorted(json.loads((job / "metrics.json").read_text())["cuda_visible_devices"] for job in jobs)
    assert seen == ["0,1", "2,3"]  # side by side, on disjoint GPUs
    assert (sweep / "summary.md").is_file()


def test_parallel_job_slots_get_disjoint_gpus_and_one_job_per_gpu_by_default():
    from reslab.config.launcher import gpu_slots
    from reslab.errors import ConfigError

    assert gpu_slots([0, 1, 2, 3], None, 1) == [[0], [1], [2], [3]]  # n_jobs: one per GPU
    assert gpu_slots([4, 5, 6, 7], None, 2) == [[4, 5], [6, 7]]
    assert gpu_slots([0, 1, 2], 1, 2) == [[0, 1]]
    assert gpu_slots([], None, 1) == [[], []] and gpu_slots([], 3, 1) == [[], [], []]  # no GPUs: 2 jobs, or n_jobs
    with pytest.raises(ConfigError, match="n_jobs=3 x gpus_per_job=2 needs more GPUs than the 4 visible"):
        gpu_slots([0, 1, 2, 3], 3, 2)


def _job_process(sweep, num: int) -> int | None:
    """The pid of job `num`'s own process (submitit's runner on <sweep>/.submitit/<num>), found in /proc."""
    for proc in os.listdir("/proc"):
        try:
            command = open(f"/proc/{proc}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"submitit.core._submit" in command and str(sweep / ".submitit" / str(num)).encode() in command:
            return int(proc)
    return None


def test_a_parallel_job_killed_by_sigkill_fails_alone_and_the_re_run_finishes_only_it(tmp_path):
    sweep = tmp_path / "sweep"
    command = [sys.executable, str(ROOT / "train.py"), "-m", "hydra/launcher=parallel", "seed=0,1",
               f"hydra.sweep.dir={sweep}", "depth=8", "epochs=3", "logger=none", "trainer.accelerator=cpu"]
    search = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    log = sweep / "seed=1" / "train.log"  # written once the job has its config: it is training
    while not (log.is_file() and log.stat().st_size and _job_process(sweep, 1)):
        assert search.poll() is None and time.time() < deadline, "job seed=1 never started"
        time.sleep(0.05)
    os.kill(_job_process(sweep, 1), signal.SIGKILL)  # as the OOM killer would, while seed=0 trains
    out, _ = search.communicate(timeout=300)
    assert search.returncode == 0, out[-3000:]
    done = json.loads((sweep / "seed=0" / "metrics.json").read_text())
    killed = json.loads((sweep / "seed=1" / "metrics.json").read_text())
    assert done["status"] == "ok" and done["epochs"] == 3  # the job beside it went on and finished
    assert killed == {"status": "failed", "error": "job 1 killed by SIGKILL (signal 9)"}
    assert "| seed=1 | failed | job 1 killed by SIGKILL (signal 9) |" in (sweep / "summary.md").read_text()
    kept = (sweep / "seed=0" / "metrics.json").read_bytes()
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)  # the same command
    assert out.returncode == 0, out.stderr[-3000:]
    assert "#0 : seed=0 depth=8 epochs=3 logger=none trainer.accelerator=cpu (finished: not run again)" in out.stdout
    assert (sweep / "seed=0" / "metrics.json").read_bytes() == kept
    assert len(_finished_jobs(sweep)) == 2 and not (sweep / ".submitit" / "2").exists()


def test_submitit_local_executor_runs_a_job(tmp_path):
    sweep = tmp_path / "sweep"
    _train(tmp_path, "-m", "hydra/launcher=slurm_local", f"hydra.sweep.dir={sweep}")
    assert len(_finished_jobs(sweep)) == 1
    assert (sweep / ".submitit").is_dir()
    assert (sweep / "summary.md").is_file()


def _trials(sweep) -> list:
    import optuna

    study = optuna.load_study(study_name="reslab", storage=f"sqlite:///{sweep / 'optuna.db'}")
    return [(trial.state.name, trial.params) for trial in study.trials]


def test_optuna_preset_searches_lr_and_weight_decay_and_a_re_run_continues_its_study(tmp_path):
    sweep = tmp_path / "sweep"
    _train(tmp_path, "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep}")
    jobs = _finished_jobs(sweep)
    assert len(jobs) == 2 and all("lr=" in job.name and "weight_decay=" in job.name for job in jobs)
    assert "best_params" in (sweep / "optimization_results.yaml").read_text()
    assert [state for state, _ in _trials(sweep)] == ["COMPLETE", "COMPLETE"]  # in optuna.db, the sweep folder's
    _train(tmp_path, "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={sweep}")
    trials = _trials(sweep)  # 3 in all: one more, with values of its own (the sampler re-seeded, not replayed)
    assert [state for state, _ in trials] == ["COMPLETE"] * 3 and trials[2][1] not in (trials[0][1], trials[1][1])
    assert len(_finished_jobs(sweep)) == 3
    _train(tmp_path, "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={sweep}")
    assert len(_trials(sweep)) == 3  # a finished search does not run again


def test_a_damaged_optuna_study_is_one_line_naming_its_file(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "optuna.db").write_bytes(b"not a database" * 100)
    out = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", "hparams_search=optuna",
                          f"hydra.sweep.dir={sweep}", *TINY], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert out.returncode == 2 and len(lines) == 1 and "optuna.db" in lines[0], out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "setup plugin" not in out.stdout + out.stderr
    assert not list(sweep.glob("lr=*"))  # no trial ran


@pytest.mark.slow
def test_a_killed_optuna_search_re_runs_the_interrupted_trial_from_its_checkpoint(tmp_path):
    sweep = tmp_path / "sweep"
    command = [sys.executable, str(ROOT / "train.py"), "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2",
               f"hydra.sweep.dir={sweep}", "depth=8", "epochs=4", "logger=none", "trainer.accelerator=cpu"]
    search = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.time() + 300
    while not [job for job in sweep.glob("lr=*") if (job / "checkpoints" / "last.ckpt").is_file()
               and not (job / "metrics.json").exists() and any(sweep.glob("lr=*/metrics.json"))]:
        assert search.poll() is None and time.time() < deadline, "the second trial never saved a checkpoint"
        time.sleep(0.05)
    os.killpg(search.pid, signal.SIGKILL)  # the second trial, mid-run
    search.wait()
    assert [state for state, _ in _trials(sweep)] == ["COMPLETE", "RUNNING"]
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    trials = _trials(sweep)  # the interrupted trial failed as it stood and ran again with the same values
    assert [state for state, _ in trials] == ["COMPLETE", "FAIL", "COMPLETE"] and trials[2][1] == trials[1][1]
    jobs = _finished_jobs(sweep)
    assert len(jobs) == 2 and all(json.loads((job / "metrics.json").read_text())["epochs"] == 4 for job in jobs)
    resumed = [job for job in jobs if "Restored all states" in (job / "train.log").read_text()]
    assert len(resumed) == 1


DDP = ("trainer=ddp", "trainer.devices=2")


def test_ddp_trains_an_epoch_on_two_cpu_processes_in_a_single_run(tmp_path):
    run_dir = tmp_path / "run"
    _train(tmp_path, *DDP, f"hydra.run.dir={run_dir}")
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "ok"
    assert (run_dir / "train_ddp_process_1.log").is_file()  # rank 1 ran, in the job's own folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # and nowhere else


@pytest.mark.slow
def test_ddp_under_a_multirun_runs_each_job_once_in_its_folder(tmp_path):
    sweep = tmp_path / "sweep"
    _train(tmp_path, "-m", *DDP, "seed=0,1", f"hydra.sweep.dir={sweep}")
    jobs = _finished_jobs(sweep)
    assert len(jobs) == 2  # the second job found no rank variables or process group left by the first
    assert all((job / "train_ddp_process_1.log").is_file() for job in jobs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]
