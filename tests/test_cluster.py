"""Sweeps on a real SLURM cluster: the one-node cluster of scripts/slurm_cluster.sh (munged, slurmdbd on MariaDB,
slurmctld, slurmd), started once for the session. A job array through sbatch with its summary, a cancelled task
recorded and re-submitted alone, a job requeued mid-training that ends as if uninterrupted, the schema's refusal of
a DDP job whose tasks do not match its devices, and DDP ranks started by srun. Skipped, with the reason, where the
cluster cannot be started (not root, no SLURM and no apt-get); CI runs as root and starts it."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "slurm_cluster.sh"
JOB = ("hydra/launcher=slurm_one_node", "depth=8", "epochs=4", "width=8", "trainer.accelerator=cpu")
PLACE = ("host", "wall_time_s", "throughput", "peak_mem_mb", "slurm/job_id", "slurm/restarts", "slurm/stdout",
         "slurm/stderr")  # where and how fast a job ran: not what it computed


@pytest.fixture(scope="session")
def slurm():
    """The one-node cluster, up for the session (left up when it already was)."""
    if os.geteuid() != 0:
        pytest.skip("the SLURM tests start munged, slurmdbd, slurmctld and slurmd: they need root (CI runs as root)")
    if not shutil.which("slurmctld", path=os.environ["PATH"] + ":/usr/sbin") and not shutil.which("apt-get"):
        pytest.skip("SLURM is not installed and there is no apt-get to install it (slurm-wlm slurmdbd munge)")
    was_up = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode == 0
    out = subprocess.run(["bash", str(SCRIPT), "up"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    yield
    if not was_up:
        subprocess.run(["bash", str(SCRIPT), "down"], capture_output=True, timeout=300)


def _command(sweep, *args) -> list:
    return [sys.executable, str(ROOT / "train.py"), "-m", *JOB, *args, f"hydra.sweep.dir={sweep}"]


def _sweep(cwd, sweep, *args) -> str:
    out = subprocess.run(_command(sweep, *args), cwd=cwd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _array_id(line: str) -> str:
    return line.split("[reslab] SLURM job ", 1)[1].split(":")[0]


def _submitted(cwd, sweep, *args) -> tuple:
    """A sweep started in the background, read up to its submission: (process, output so far, SLURM job id)."""
    process = subprocess.Popen(_command(sweep, *args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "[reslab] SLURM job " in line:
            return process, lines, _array_id(line)
    raise AssertionError("".join(lines)[-3000:])


def _sacct(job: str) -> dict:
    """{job id: state} of a job (array) and its requeued runs (-D), from the accounting database."""
    out = subprocess.run(["sacct", "-n", "-X", "-D", "-P", "-o", "JobID,State", "-j", job], capture_output=True,
                         text=True, check=True).stdout
    states = {}
    for line in out.splitlines():
        job_id, state = line.split("|")
        states.setdefault(job_id, []).append(state)
    return states


def _metrics(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def _until(condition, what: str, timeout: float = 300):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def array(slurm, tmp_path_factory):
    """A 4-job array (seeds 0-3), its task 1 cancelled with scancel while it runs: (sweep folder, array id, output)."""
    tmp = tmp_path_factory.mktemp("array")
    sweep = tmp / "sweep"
    sweep_run, lines, array_id = _submitted(tmp, sweep, "seed=0,1,2,3")

    def running(task: str) -> bool:
        out = subprocess.run(["squeue", "-h", "-o", "%i %T", "-j", array_id], capture_output=True, text=True)
        return f"{array_id}_{task} RUNNING" in out.stdout

    _until(lambda: running("1"), f"task {array_id}_1 to run")
    subprocess.run(["scancel", f"{array_id}_1"], check=True)
    out = "".join(lines) + sweep_run.communicate(timeout=600)[0]
    assert sweep_run.returncode == 0, out[-3000:]
    return sweep, array_id, out


def test_a_job_array_through_sbatch_ends_with_its_summary_and_each_job_knows_its_slurm_job(array):
    sweep, array_id, out = array
    states = _sacct(array_id)
    assert states == {f"{array_id}_0": ["COMPLETED"], f"{array_id}_1": ["CANCELLED by 0"],
                      f"{array_id}_2": ["COMPLETED"], f"{array_id}_3": ["COMPLETED"]}, states
    for seed in (0, 2, 3):  # the other tasks ran on
        metrics = _metrics(sweep / f"seed={seed}")
        assert metrics["status"] == "ok" and metrics["epochs"] == 4
        assert metrics["slurm/job_id"] == f"{array_id}_{seed}" and metrics["slurm/node"] == socket.gethostname()
        assert "`max_epochs=4` reached" in open(metrics["slurm/stderr"]).read()  # the job's own log
    assert "3 ok" in out and (sweep / "report.html").is_file()
    rows = (sweep / "summary.csv").read_text().splitlines()
    assert "slurm/job_id" in rows[0] and any(f",{array_id}_2," in row for row in rows)
    assert list(sweep.glob("events.out.tfevents.*.hparams"))  # the sweep's HParams experiment
    assert list((sweep / "seed=0" / "tensorboard").rglob("events.out.tfevents.*"))


def test_a_cancelled_task_is_recorded_failed_and_the_same_command_submits_it_alone(array, tmp_path):
    sweep, array_id, _ = array
    cancelled = _metrics(sweep / "seed=1")
    assert cancelled["status"] == "failed" and cancelled["error"].startswith(f"SLURM job {array_id}_1 CANCELLED")
    assert f"| seed=1 | failed | SLURM job {array_id}_1 CANCELLED" in (sweep / "summary.md").read_text()
    out = _sweep(tmp_path, sweep, "seed=0,1,2,3")
    again = _array_id(out)
    assert f"[reslab] SLURM job {again}: 1 job(s)" in out
    assert out.count("(finished: not run again)") == 3  # seeds 0, 2, 3
    assert _sacct(again) == {again: ["COMPLETED"]}  # one job: seed=1
    assert _metrics(sweep / "seed=1")["status"] == "ok" and _metrics(sweep / "seed=1")["slurm/job_id"] == again
    assert "4 jobs (4 ok)" in (sweep / "summary.md").read_text()


def _scalars(folder, tag):
    return [(e.step, e.value) for e in EventAccumulator(str(folder / "tensorboard")).Reload().Scalars(tag)]


REQUEUE = {"preempted": ["scontrol", "requeue"],  # what preemption does
           "warned": ["scancel", "--signal=USR2"]}  # the warning before the time limit: submitit requeues the job


@pytest.mark.parametrize("how", ["preempted", pytest.param("warned", marks=pytest.mark.slow)])
def test_a_job_requeued_mid_training_resumes_from_its_checkpoint_to_the_uninterrupted_result(array, tmp_path, how):
    reference = array[0] / "seed=0"  # the same job, uninterrupted, in the array
    sweep = tmp_path / "sweep"
    job_run, lines, job = _submitted(tmp_path, sweep, "seed=0")
    folder = sweep / "0"  # one job: nothing swept
    _until(lambda: (folder / "checkpoints" / "last.ckpt").is_file() or (folder / "metrics.json").exists(),
           "the first checkpoint")
    assert not (folder / "metrics.json").exists(), "the job ended before it could be requeued"
    subprocess.run([*REQUEUE[how], job], check=True)
    pending = []

    def released() -> bool:  # SLURM holds a requeued job for 2 minutes (BeginTime): start it now
        state = subprocess.run(["squeue", "-h", "-o", "%T", "-j", job], capture_output=True, text=True).stdout
        if state.strip() == "PENDING":
            pending.append(subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"]).returncode)
        return bool(pending) and state.strip() != "PENDING"

    _until(released, "the requeued job to run again", 180)
    out = "".join(lines) + job_run.communicate(timeout=600)[0]
    assert job_run.returncode == 0, out[-3000:]
    assert _sacct(job) == {job: ["REQUEUED", "COMPLETED"]}
    metrics = _metrics(folder)
    assert metrics["slurm/restarts"] == 1 and "Restored all states" in (folder / "train.log").read_text()
    final = {k: v for k, v in metrics.items() if k not in PLACE}
    assert final == {k: v for k, v in _metrics(reference).items() if k not in PLACE}
    steps = [step for step, _ in _scalars(folder, "train/loss")]  # no epoch repeated or missing in TensorBoard
    assert steps == sorted(set(steps)) == [step for step, _ in _scalars(reference, "train/loss")]


def test_a_ddp_job_whose_tasks_per_node_do_not_match_its_devices_is_refused_before_submission(slurm, tmp_path):
    before = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout
    last_job = subprocess.run(["sacct", "-n", "-X", "-o", "JobID%20", "-S", "now-3600"], capture_output=True,
                              text=True).stdout.split()[-1:]
    out = subprocess.run(_command(tmp_path / "sweep", "trainer=ddp", "trainer.devices=2"), cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert out.returncode == 2 and errors == [
        "error: hydra.launcher.tasks_per_node=1 does not match trainer.devices=2: under DDP SLURM starts one rank "
        "per device with srun; set both to the same integer"], out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "[reslab] SLURM job" not in out.stdout
    assert subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout == before
    assert subprocess.run(["sacct", "-n", "-X", "-o", "JobID%20", "-S", "now-3600"], capture_output=True,
                          text=True).stdout.split()[-1:] == last_job  # nothing was submitted


@pytest.mark.slow
def test_ddp_ranks_started_by_srun_train_as_lightning_s_own_ddp_does(slurm, tmp_path):
    ddp = ("trainer=ddp", "trainer.devices=2", "logger=none")
    out = _sweep(tmp_path, tmp_path / "sweep", *ddp, "hydra.launcher.tasks_per_node=2")
    job = _array_id(out)
    steps = subprocess.run(["sacct", "-n", "-P", "-o", "JobID,NTasks,State", "-j", job], capture_output=True,
                           text=True).stdout
    assert f"{job}.0|2|COMPLETED" in steps, steps  # one srun step of 2 tasks: the 2 ranks
    local = tmp_path / "local"  # Lightning starts the second rank itself
    single = subprocess.run([sys.executable, "train.py", *JOB[1:], *ddp, "cpu.threads=1", f"hydra.run.dir={local}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    under_srun = _metrics(tmp_path / "sweep" / "0")
    assert under_srun["status"] == "ok" and under_srun["epochs"] == 4
    for key in ("train/loss", "val/acc", "test/acc"):
        assert under_srun[key] == pytest.approx(_metrics(local)[key], rel=1e-5), key
