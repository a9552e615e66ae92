"""The CPU side of training processes: threads shared among parallel jobs, denormals flushed, the same result from
every launcher for the same config."""
import json
import subprocess
import sys

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
    assert host.threads_for(3, 8) == 3
    assert host.threads_for("auto", 1) == host.cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert host.threads_for("auto", 1) == 1 and host.threads_for(2, 1) == 2
    assert host.threads_for("auto", host.cores() * 4) == 1
    assert host.oversubscribed(1, host.cores(), 0) is None
    warning = host.oversubscribed(2, host.cores(), 4)
    assert warning is not None and "\n" not in warning and "cpu.threads=auto" in warning


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
