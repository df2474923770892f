"""Warm start (vitmed/warm.py): scripts forked from a pre-imported server behave as in a process
of their own: same numbers, streams, exit status, and they die with the process Snakemake started."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent("""
    from vitmed.jobs.warm import handoff
    handoff(snakemake, __file__)

    import os, sys, time
    import torch

    cfg = snakemake.config
    torch.set_num_threads(1)
    torch.manual_seed(cfg["seed"])
    model = torch.nn.Linear(8, 2)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(5):
        loss = model(torch.randn(16, 8)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    weights = float(sum(p.detach().sum() for p in model.parameters()))
    with open(cfg["out"], "w") as out:
        out.write(f"{os.getpid()} {os.getppid()} {weights.hex()}")
    print("to stdout", flush=True)
    print("to stderr", file=sys.stderr)
    time.sleep(cfg.get("sleep", 0))
    if cfg.get("fail"):
        raise ValueError("the job failed")
    if cfg.get("signal"):
        import signal
        os.kill(os.getpid(), getattr(signal, cfg["signal"]))
    sys.exit(cfg.get("exit", 0))
""")
# What Snakemake's preamble does: a `snakemake` object in the script's globals, `__file__` the script.
CLIENT = (
    "import json, runpy, sys, types; "
    "runpy.run_path(sys.argv[1], init_globals={'snakemake': types.SimpleNamespace(config=json.loads(sys.argv[2]))}, "
    "run_name='__main__')"
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("warm")
    (path / "job.py").write_text(SCRIPT)
    return path


def start(workdir, **config) -> subprocess.Popen:
    config = {"seed": 0, "out": str(workdir / "out.txt"), **config}
    return subprocess.Popen([sys.executable, "-c", CLIENT, str(workdir / "job.py"), json.dumps(config)],
                            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(workdir, **config) -> tuple[subprocess.CompletedProcess, list[str]]:
    process = start(workdir, **config)
    stdout, stderr = process.communicate(timeout=300)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return result, (workdir / "out.txt").read_text().split()


def test_warm_job_runs_in_a_fork_of_one_server_with_the_same_numbers(workdir):
    cold, (cold_pid, cold_parent, cold_weights) = run(workdir, seed=3, warm_start=False)
    assert cold.returncode == 0 and int(cold_parent) == os.getpid()  # ran in the client itself
    first, (first_pid, server, first_weights) = run(workdir, seed=3, warm_start=True)
    second, (second_pid, server_again, _) = run(workdir, seed=4, warm_start=True)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert int(server) != os.getpid() and server == server_again and first_pid != second_pid
    assert first_weights == cold_weights  # bit for bit
    assert (first.stdout, first.stderr) == (cold.stdout, cold.stderr) == ("to stdout\n", "to stderr\n")


def test_exit_status_and_errors_reach_the_client(workdir):
    exited, _ = run(workdir, warm_start=True, exit=3)
    assert exited.returncode == 3
    failed, _ = run(workdir, warm_start=True, fail=True)
    assert failed.returncode == 1 and "ValueError: the job failed" in failed.stderr


@pytest.mark.parametrize("name", ["SIGKILL", "SIGBUS"])
def test_a_job_killed_by_a_signal_says_so_and_exits_as_a_cold_one(workdir, name):
    cold, _ = run(workdir, warm_start=False, signal=name)
    warm, _ = run(workdir, warm_start=True, signal=name)
    number = getattr(signal, name)
    assert cold.returncode == -number  # the cold process itself died by the signal
    assert warm.returncode == 128 + number, warm.stderr
    assert f"was killed by {name}" in warm.stderr


def test_killing_the_client_kills_its_job(workdir):
    out = workdir / "out.txt"
    out.unlink(missing_ok=True)
    client = start(workdir, warm_start=True, sleep=120)
    deadline = time.monotonic() + 120
    while not out.exists() or not out.read_text():
        assert time.monotonic() < deadline and client.poll() is None, client.communicate()
        time.sleep(0.1)
    job = int(out.read_text().split()[0])
    assert job != client.pid
    client.send_signal(signal.SIGTERM)
    client.communicate(timeout=30)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{job}") and "Z" not in open(f"/proc/{job}/stat").read().split()[2]:
        assert time.monotonic() < deadline, "the job outlived its client"
        time.sleep(0.1)


def test_a_server_that_cannot_start_is_a_clear_error(tmp_path, monkeypatch):
    from vitmed.jobs import warm

    monkeypatch.setattr(sys, "executable", sys.executable + "-missing-interpreter")
    with pytest.raises(OSError):
        warm.connect(str(tmp_path / "x.sock"))
    monkeypatch.setattr(sys, "executable", "/bin/false")  # starts, then exits at once
    with pytest.raises(RuntimeError, match="the warm-start server did not start; its output"):
        warm.connect(str(tmp_path / "x.sock"))


def test_an_idle_server_exits_and_the_next_job_starts_a_new_one(tmp_path, monkeypatch):
    monkeypatch.setenv("VITMED_WARM_IDLE_SECONDS", "1")
    (tmp_path / "job.py").write_text(SCRIPT)
    first, (_, server, _) = run(tmp_path, warm_start=True)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{server}") and "Z" not in open(f"/proc/{server}/stat").read().split()[2]:
        assert time.monotonic() < deadline, "the idle server did not exit"
        time.sleep(0.2)
    second, (_, new_server, _) = run(tmp_path, warm_start=True)
    assert first.returncode == second.returncode == 0 and new_server != server
