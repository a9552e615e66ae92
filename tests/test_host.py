"""The CPU side of training processes: threads shared among parallel jobs, denormals flushed, the same result from
every launcher for the same config."""
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT
from reslab import host

JOB = ("depth=8", "epochs=1", "logger=none", "trainer.accelerator=cpu", "diagnostics=off")
TIMING = ("wall_time_s", "throughput", "peak_mem_mb")


def final(folder) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in TIMING}


def test_threads_are_shared_and_oversubscription_is_named(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    idle = lambda cpus: 0.0  # noqa: E731 - a machine nobody else uses
    assert host.threads_for(3, 8) == 3 and host.choose_threads(3, 8)[1] == "cpu.threads=3 (as set)"
    limit = min(host.cores(), int(host.cpu_quota() or host.cores()) or 1)
    assert host.choose_threads("auto", 1, busy=idle)[0] == limit
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert host.choose_threads("auto", 1, busy=idle)[0] == 1 and host.threads_for(2, 1) == 2
    assert host.choose_threads("auto", host.cores() * 4, busy=idle)[0] == 1
    assert host.oversubscribed(1, host.cores(), 0) is None
    warning = host.oversubscribed(2, host.cores(), 4)
    assert warning is not None and "\n" not in warning and "cpu.threads=auto" in warning


def test_auto_threads_leave_the_cores_other_processes_keep_busy(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(host, "cores", lambda: 8)
    monkeypatch.setattr(host, "cpu_quota", lambda: None)
    threads, why = host.choose_threads("auto", 1, busy=lambda cpus: 2.6)  # another job's 3 threads, mostly busy
    assert threads == 5 and "\n" not in why and "2.6 busy with other processes" in why and "cpu.threads=5" in why
    assert host.choose_threads("auto", 2, busy=lambda cpus: 1.0)[0] == 4  # the launcher's share is the tighter
    assert host.choose_threads("auto", 1, busy=lambda cpus: 11.0)[0] == 1  # a crowded machine: one thread, no spin
    assert host.choose_threads("auto", 1, sample=False, busy=lambda cpus: 7.0)[0] == 8  # DDP ranks: by count only
    halves = [host.choose_threads("auto", 1, busy=lambda cpus, b=b: b)[0] for b in (0.49, 0.5, 1.5, 2.5)]
    assert halves == [8, 7, 6, 5]  # half a busy core or more counts as one, whatever its parity
    monkeypatch.setattr(host, "cpu_quota", lambda: 2.5)  # a container given --cpus=2.5
    threads, why = host.choose_threads("auto", 1, busy=lambda cpus: 0.2)
    assert threads == 2 and "a CPU quota of 2.5" in why


def test_busy_cores_and_cpu_quota_known_answers(tmp_path):
    first = {0: [100, 0, 50, 800, 50, 0, 0, 0], 1: [0, 0, 0, 1000, 0, 0, 0, 0], 2: [0] * 8}
    second = {0: [150, 0, 100, 850, 50, 0, 0, 0], 1: [0, 0, 0, 1100, 0, 0, 0, 0], 2: [0] * 8}
    assert host.busy_between(first, second, [0, 1, 2]) == pytest.approx(100 / 150)  # CPU 0 2/3 busy, 1 idle
    assert host.busy_between(first, second, [1]) == 0.0
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 5\n")
    assert host.cpu_times(stat) == {0: [1, 2, 3, 4, 5, 6, 7, 8]}
    assert host.busy_cores([0], 0.0, stat) == 0.0 and host.busy_cores([0], 0.0, tmp_path / "none") is None
    assert host.busy_cores(sorted(os.sched_getaffinity(0)), 0.05) >= 0.0  # the real /proc/stat reads

    cgroup = tmp_path / "cgroup"  # v2: the job's cgroup and an ancestor with a tighter quota
    (cgroup / "user" / "job").mkdir(parents=True)
    (cgroup / "user" / "job" / "cpu.max").write_text("300000 100000\n")
    assert host.cpu_quota(cgroup, "0::/user/job\n") == 3.0
    (cgroup / "user" / "cpu.max").write_text("150000 100000\n")
    assert host.cpu_quota(cgroup, "0::/user/job\n") == 1.5
    (cgroup / "user" / "cpu.max").write_text("max 100000\n")
    (cgroup / "user" / "job" / "cpu.max").write_text("max 100000\n")
    assert host.cpu_quota(cgroup, "0::/user/job\n") is None
    (cgroup / "cpu").mkdir()  # v1: cpu.cfs_quota_us / cpu.cfs_period_us, -1 = unlimited
    (cgroup / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (cgroup / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert host.cpu_quota(cgroup, "3:cpu,cpuacct:/\n0::/\n") is None
    (cgroup / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    assert host.cpu_quota(cgroup, "3:cpu,cpuacct:/\n0::/\n") == 2.0


def test_others_busy_and_crowded_known_answers():
    first = {0: [0, 0, 0, 100, 0, 0, 0, 0], 1: [0, 0, 0, 100, 0, 0, 0, 0]}
    second = {0: [100, 0, 0, 100, 0, 0, 0, 0], 1: [50, 0, 0, 150, 0, 0, 0, 0]}  # CPU 0 all busy, CPU 1 half
    assert host.others_busy(first, second, own_cpu_s=1.0, wall_s=2.0, cpus=[0, 1]) == pytest.approx(1.0)
    assert host.others_busy(first, second, own_cpu_s=4.0, wall_s=2.0, cpus=[0, 1]) == 0.0  # never below zero
    assert host.others_busy(first, second, own_cpu_s=1.0, wall_s=0.0, cpus=[0, 1]) == 0.0
    assert host.crowded(2, 0.4, 2) is None  # the system's own work: within half a core
    line = host.crowded(2, 1.0, 2)  # a job of 1 thread started beside this one of 2, on 2 cores
    assert "\n" not in line and "1.0 of 2 cores busy" in line and "keeps 2 thread(s)" in line


TOGETHER = """
import sys, time
from reslab import host
start = host.reading()
end = time.time() + 1.5  # a job's start-up: its imports keep one core busy
while time.time() < end:
    pass
print(host.choose_threads("auto", 1, busy=lambda cpus: host.busy_since(start, cpus))[0])
"""


@pytest.mark.skipif(host.usable_cores() < 2, reason="two jobs sharing cores need two")
def test_two_jobs_started_together_see_each_other_over_their_start_ups():
    # Sampled asleep at the same moment, both saw an idle machine and took every core (the cliff); over their
    # start-ups each sees the other's busy core and leaves it.
    pair = [subprocess.Popen([sys.executable, "-c", TOGETHER], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    chosen = [int(job.communicate(timeout=60)[0]) for job in pair]
    assert all(threads <= host.usable_cores() - 1 for threads in chosen), chosen


def test_busy_since_falls_back_to_a_sample_for_a_short_window(monkeypatch):
    monkeypatch.setattr(host, "busy_cores", lambda cpus: 0.75)
    assert host.busy_since(host.reading(), [0]) == 0.75  # a window under SAMPLE_S: the imports were done already
    start = (time.monotonic() - 1.0, 0.0, {0: [0, 0, 0, 100, 0, 0, 0, 0]})
    monkeypatch.setattr(host, "reading", lambda: (start[0] + 1.0, 0.5, {0: [100, 0, 0, 100, 0, 0, 0, 0]}))
    assert host.busy_since(start, [0]) == pytest.approx(0.5)  # all busy, half of it this process's own
    assert host.busy_since((0.0, 0.0, {}), [0]) is None  # no /proc/stat


def test_a_job_says_once_when_other_processes_take_the_cores_after_it_started():
    from types import SimpleNamespace

    from reslab.callbacks import SharedCpu

    cores = host.usable_cores()
    trainer = SimpleNamespace(world_size=1, is_global_zero=True)
    module = SimpleNamespace(device=torch.device("cpu"))
    callback = SharedCpu(window_s=1.0)
    callback.on_train_start(trainer, module)
    burn = "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"
    burners = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(cores)]  # every core taken
    for burner in burners:
        burner.wait(timeout=30)
    callback.on_train_epoch_end(trainer, module)
    assert callback.line is not None and f"of {cores} cores busy" in callback.line
    said = callback.line
    callback.on_train_epoch_end(trainer, module)
    assert callback.line == said  # once
    gpu = SharedCpu(window_s=1.0)
    gpu.on_train_start(trainer, SimpleNamespace(device=torch.device("cuda")))
    assert gpu.start is None  # off the CPU


def test_the_heap_is_frozen_once_per_process_by_first_only():
    script = ("import gc; from reslab import host; host.freeze_heap(first_only=True); n = gc.get_freeze_count(); "
              "x = [[] for _ in range(1000)]; host.freeze_heap(first_only=True); "
              "assert gc.get_freeze_count() == n > 0; host.freeze_heap(); assert gc.get_freeze_count() >= n + 1000")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_denormals_are_flushed_in_a_training_process(make_cfg, tmp_path):
    from reslab.run import run

    previous = torch.set_flush_denormal(False)
    try:
        metrics = run(make_cfg(*JOB), tmp_path)
        assert metrics["flush_denormal"] is True
        assert float(torch.tensor([1e-40]) * 1.0) == 0.0  # this process now flushes denormals
        metrics = run(make_cfg(*JOB, "cpu.flush_denormal=false"), tmp_path / "ieee")
        assert metrics["flush_denormal"] is False and float(torch.tensor([1e-40]) * 1.0) > 0.0
    finally:
        torch.set_flush_denormal(bool(previous))


def test_a_parallel_sweep_shares_the_cores_and_every_launcher_gives_the_same_result(tmp_path):
    """Two jobs side by side (joblib) get cores/2 threads each; with the same threads (cpu.threads=1) a single
    run, the basic multirun and the parallel launcher give identical metrics."""
    def multirun(folder, *extra):
        out = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", *JOB, "seed=0,1", *extra,
                              f"hydra.sweep.dir={folder}"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]

    multirun(tmp_path / "parallel", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2")
    threads = [final(tmp_path / "parallel" / f"seed={s}")["threads"] for s in (0, 1)]
    assert all(t * 2 <= max(2, host.cores()) for t in threads), threads
    multirun(tmp_path / "basic", "cpu.threads=1")
    single = tmp_path / "single"
    out = subprocess.run([sys.executable, "train.py", *JOB, "seed=0", "cpu.threads=1", f"hydra.run.dir={single}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    if host.cores() == 2:  # one thread per parallel job: the same threads as cpu.threads=1
        assert final(tmp_path / "parallel" / "seed=0") == final(tmp_path / "basic" / "seed=0") == final(single)
    assert final(tmp_path / "basic" / "seed=0") == final(single)


def test_channels_last_auto_is_decided_by_a_probe_cached_and_recorded(make_cfg, tmp_path, monkeypatch):
    from reslab.models.network import build_model
    from reslab.tasks import memory_format
    from reslab.run import run

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    net = build_model("plain", 8, None, (1, 8, 8), 10)
    state, rng = {k: v.clone() for k, v in net.state_dict().items()}, torch.get_rng_state()
    times = memory_format.probe(net, (1, 8, 8), 32, torch.device("cpu"))
    assert set(times) == {True, False} and all(t > 0 for t in times.values())
    assert torch.equal(torch.get_rng_state(), rng)  # the probe neither draws from the seeded stream
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())  # nor touches the network
    chosen, how = memory_format.choose(net, (1, 8, 8), 32, torch.device("cpu"))
    assert how.startswith("auto (probe: ") and isinstance(chosen, bool)
    assert memory_format.choose(net, (1, 8, 8), 32, torch.device("cpu")) == (chosen, how.replace("probe", "cached"))

    metrics = run(make_cfg(*JOB, "task.channels_last=auto"), tmp_path / "auto")
    cached = json.loads(memory_format.cache_file().read_text())
    assert len(cached) == 2  # this run's network and batch were probed and kept
    assert metrics["channels_last"] == [v["channels_last"] for k, v in cached.items() if "batch 128" in k][0]
    assert run(make_cfg(*JOB, "task.channels_last=false"), tmp_path / "off")["channels_last"] is False


def test_data_workers_auto_none_on_the_cpu_and_only_for_costly_decoding_on_a_gpu():
    import time

    from torch.utils.data import Dataset, TensorDataset

    from reslab.data.workers import MAX_WORKERS, workers_for

    class SlowDecoding(Dataset):
        def __len__(self):
            return 100

        def __getitem__(self, i):
            time.sleep(0.002)  # a large JPEG's decode and resize
            return torch.zeros(3, 8, 8), 0

    cheap = TensorDataset(torch.zeros(100, 3, 8, 8), torch.zeros(100))
    cpu, gpu = torch.device("cpu"), torch.device("cuda")  # a device name: no GPU is touched
    assert workers_for(3, SlowDecoding(), 128, cpu) == 3  # as given
    assert workers_for("auto", SlowDecoding(), 128, cpu) == 0  # the training threads hold the cores
    assert workers_for("auto", cheap, 128, gpu) == 0  # cheaper than the process hop
    assert workers_for("auto", SlowDecoding(), 128, gpu) == max(1, min(MAX_WORKERS, torch.get_num_threads() - 1))
