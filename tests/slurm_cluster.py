"""A one-node SLURM cluster on localhost from Debian's slurm-wlm and munge, for tests.

No accounting database (Snakemake's SLURM plugin is told to poll `squeue`). The node
advertises more CPUs and memory than the machine has, and a fake GPU (`config_overrides`), so
the project's real profile, sized for GPU nodes, is submitted unchanged. Every daemon started
is stopped again, and /etc/slurm is restored.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")

SLURM_CONF = """\
ClusterName=vitmedtest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/run/slurmctld.pid
SlurmdPidFile={dir}/run/slurmd.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd.log
SlurmctldDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
DefMemPerCPU=1000
GresTypes=gpu
NodeName=localhost CPUs=32 RealMemory=128000 Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
GRES_CONF = "NodeName=localhost Name=gpu File=/dev/null\n"


def unavailable_reason() -> str | None:
    """Why a local SLURM cluster cannot be started here, or None."""
    missing = [name for name in (*DAEMONS, "sbatch", "squeue") if not shutil.which(name)]
    if missing:
        return f"SLURM is not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd/munged needs root"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed: pip install -e '.[test]'"
    return None


def _wait(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


def _wait_for_pid(pidfile: Path, what: str) -> int:
    """The pid a daemon writes: the file can exist, still empty, before its number is in it."""
    _wait(lambda: pidfile.exists() and pidfile.read_text().strip().isdigit(), what)
    return int(pidfile.read_text())


def _munge_answers() -> bool:
    return subprocess.run(["munge", "-n"], capture_output=True).returncode == 0


def _node_idle() -> bool:
    state = subprocess.run(["sinfo", "-h", "-n", "localhost", "-o", "%T"], capture_output=True, text=True)
    return state.stdout.strip() in ("idle", "mixed")


@contextmanager
def local_slurm(directory: Path):
    """Start munged, slurmctld and slurmd under ``directory``; yield the slurmctld log path."""
    for sub in ("state", "spool", "run", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    (directory / "slurm.conf").write_text(SLURM_CONF.format(dir=directory))
    (directory / "gres.conf").write_text(GRES_CONF)
    # srun inside a job reads the default path (the job step strips SLURM_CONF): link it there
    etc = Path("/etc/slurm")
    etc.mkdir(exist_ok=True)
    saved = {}
    for name in ("slurm.conf", "gres.conf"):
        target = etc / name
        if target.exists() or target.is_symlink():
            saved[name] = directory / f"saved.{name}"
            shutil.move(target, saved[name])
        target.symlink_to(directory / name)
    munge_run = Path("/run/munge")
    munge_run.mkdir(parents=True, exist_ok=True)
    shutil.chown(munge_run, "munge", "munge")
    env = dict(os.environ, SLURM_CONF=str(directory / "slurm.conf"))
    pids = []
    try:
        # munged runs as user munge: its pid file goes where munge may write
        munge_pidfile = munge_run / "vitmed-test-munged.pid"
        if not _munge_answers():  # a munged already running (the machine's own) is used as it is
            subprocess.run(["runuser", "-u", "munge", "--", "munged", "--pid-file", str(munge_pidfile)],
                           check=True, env=env)
            pids.append(_wait_for_pid(munge_pidfile, "munged"))
        subprocess.run(["slurmctld"], check=True, env=env)
        pids.append(_wait_for_pid(directory / "run" / "slurmctld.pid", "slurmctld"))
        subprocess.run(["slurmd", "-N", "localhost"], check=True, env=env)  # the hostname is not localhost
        pids.append(_wait_for_pid(directory / "run" / "slurmd.pid", "slurmd"))
        _wait(_node_idle, "the node to become idle")
        yield directory / "log" / "slurmctld.log"
    finally:
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in pids:
            _wait(lambda pid=pid: not Path(f"/proc/{pid}").exists(), f"process {pid} to stop", timeout=20)
        for name in ("slurm.conf", "gres.conf"):
            (etc / name).unlink(missing_ok=True)
            if name in saved:
                shutil.move(saved[name], etc / name)
