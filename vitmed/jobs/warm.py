"""Warm start: rule scripts run in a fork of one interpreter that has already imported torch,
timm, scikit-learn, pandas and matplotlib.

On a small CPU study most of a job's time is its Python process importing those libraries
(seconds per job, a hundred jobs), not its work. With ``warm_start: true`` the first job starts
a local server that imports them once; every job then forks from it, runs the rule's script
with the job's ``snakemake`` object, working directory, environment and standard streams, and
reports its exit status back to the small process Snakemake started, which exits with it.
Forked children share nothing but the imported code: each job sets its own seeds and threads,
so its numbers are the same as in a process of its own (tested). The server exits after
``IDLE_SECONDS`` without new or running jobs (it reaps them, to tell a client its job's signal),
and is keyed by interpreter, search path, working directory and
the library's source files, so an edited library never runs stale code. Under SLURM (each job
in its own allocation) and where it is off, scripts run in their own process as usual.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import logging
import os
import pickle
import runpy
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

IDLE_SECONDS = float(os.environ.get("VITMED_WARM_IDLE_SECONDS", 60))
START_TIMEOUT = 180
PRELOAD = ("torch", "torchvision", "timm", "sklearn.metrics", "scipy.stats", "pandas", "pyarrow.parquet",
           "matplotlib.pyplot", "seaborn", "vitmed.train.finetune", "vitmed.train.dino", "vitmed.evaluate.initialized",
           "vitmed.analysis.per_dataset", "vitmed.data.store", "vitmed.report.figures")
_IN_JOB = False  # set in a forked job: its script's own handoff() call returns at once


def handoff(snakemake, script: str) -> None:
    """Run ``script`` (the caller's ``__file__``) in a warm fork and exit with its status, when
    the study's ``warm_start`` is on; otherwise return and let the script run here."""
    if _IN_JOB or not snakemake.config.get("warm_start") or "SLURM_JOB_ID" in os.environ:
        return
    job = {"script": os.path.realpath(script), "snakemake": snakemake, "cwd": os.getcwd(),
           "sys_path": list(sys.path), "env": dict(os.environ), "streams": open_streams()}
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(run_in_server(job))


def open_streams() -> list[int]:
    """Which of stdin, stdout, stderr this process has (Snakemake may close stdin)."""
    streams = []
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.fstat(fd)
            streams.append(fd)
    return streams


def server_address() -> str:
    """One server per interpreter, search path, working directory and library source, in a
    directory only this user can enter (the socket accepts code to run)."""
    library = Path(__file__).resolve().parents[1]  # the whole vitmed package
    stamp = [(str(p), p.stat().st_mtime_ns) for p in sorted(library.rglob("*.py"))]
    key = repr((sys.executable, sys.path, os.getcwd(), stamp)).encode()
    folder = Path(tempfile.gettempdir()) / f"vitmed-warm-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder} must belong to this user and be private (mode 700)")
    return str(folder / f"{hashlib.sha256(key).hexdigest()[:16]}.sock")


def run_in_server(job: dict) -> int:
    """Send ``job`` with this process's standard streams; forward SIGTERM/SIGINT to the job;
    return its exit status."""
    conn = connect(server_address())
    with conn:
        payload = pickle.dumps(job)
        socket.send_fds(conn, [struct.pack("!Q", len(payload))], job["streams"])
        conn.sendall(payload)
        pid = struct.unpack("!q", _recv_exactly(conn, 8))[0]

        def forward(signum, _frame):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, forward)
        reply = _recv_exactly(conn, 8, allow_eof=True)
    if not reply:  # the server went away without a word (it should not)
        return 1
    code = struct.unpack("!q", reply)[0]
    if code < 0:  # the server saw the job die by a signal: say so, and exit as a cold job would
        name = signal.Signals(-code).name
        print(f"vitmed warm start: the job (pid {pid}) was killed by {name}", file=sys.stderr, flush=True)
        return 128 - code
    return code


def connect(address: str) -> socket.socket:
    """A connection to the server at ``address``, starting it (once, under a lock) if needed."""
    with contextlib.suppress(OSError):
        return _connect(address)
    stem = address.removesuffix(".sock")
    with open(stem + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two first jobs at once start one server
        with contextlib.suppress(OSError):
            return _connect(address)
        # the server imports this very library, wherever the job found it
        package_root = str(Path(__file__).resolve().parents[2])
        python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        with open(stem + ".log", "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "vitmed.jobs.warm", address], stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=log, start_new_session=True, cwd=os.getcwd(),
                                      env=dict(os.environ, PYTHONPATH=python_path))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                return _connect(address)
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the warm-start server did not start; its output ({stem}.log):\n"
                                       + Path(stem + ".log").read_text(errors="replace")[-3000:]) from None
                time.sleep(0.1)


def _connect(address: str) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(address)
    except OSError:
        conn.close()
        raise
    return conn


def _recv_exactly(conn: socket.socket, size: int, allow_eof: bool = False) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            if allow_eof and not data:
                return b""
            raise ConnectionError("warm-start server closed the connection")
        data += chunk
    return data


def serve(address: str) -> None:
    """Import the libraries once, then fork one child per connection until idle."""
    import matplotlib
    matplotlib.use("Agg")  # before pyplot: jobs draw into files
    for module in PRELOAD:
        importlib.import_module(module)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)
    listener.bind(address + ".new")
    listener.listen(16)
    os.replace(address + ".new", address)  # clients connect only once it listens
    signal.signal(signal.SIGCHLD, _reap_jobs)
    listener.settimeout(IDLE_SECONDS)
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            if _RUNNING:  # idle means no job running either: a job's death must reach its client
                continue
            break
        _fork_job(listener, conn)
    # idle: new jobs start a new server; those that connected meanwhile are still served
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)
    listener.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            _fork_job(listener, listener.accept()[0])
    listener.close()
    while _RUNNING:  # their clients learn how they ended
        time.sleep(0.2)
    log = Path(address.removesuffix(".sock") + ".log")
    if log.exists() and log.stat().st_size == 0:
        log.unlink()


_RUNNING: dict[int, socket.socket] = {}  # the server's jobs: pid -> the connection to their client


def _reap_jobs(_signum, _frame) -> None:
    """SIGCHLD: reap finished jobs; one killed by a signal cannot report, so the server tells its
    client which signal (as a negative status)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = _RUNNING.pop(pid, None)
        if conn is None:
            continue
        if os.WIFSIGNALED(status):
            with contextlib.suppress(OSError):
                conn.sendall(struct.pack("!q", -os.WTERMSIG(status)))
        conn.close()


def _fork_job(listener: socket.socket, conn: socket.socket) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # registered before it can be reaped
    try:
        pid = os.fork()
        if pid == 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            listener.close()
            for other in _RUNNING.values():  # the other jobs' connections are the server's, not this job's
                other.close()
            _RUNNING.clear()
            _run_job(conn)  # never returns
        _RUNNING[pid] = conn
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


def _run_job(conn: socket.socket) -> None:
    global _IN_JOB
    _IN_JOB = True
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the job's own subprocesses are waited for
        conn.settimeout(None)
        header, fds, _, _ = socket.recv_fds(conn, 8, 3)
        job = pickle.loads(_recv_exactly(conn, struct.unpack("!Q", header)[0]))
        for target, fd in zip(job["streams"], fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        sys.path[:] = job["sys_path"]
        sys.argv = [job["script"]]
        conn.sendall(struct.pack("!q", os.getpid()))
        # the client gone (Snakemake killed it) means the job must go too
        threading.Thread(target=_exit_when_closed, args=(conn,), daemon=True).start()
        try:
            runpy.run_path(job["script"], init_globals={"snakemake": job["snakemake"]}, run_name="__main__")
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:
            traceback.print_exc()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        conn.sendall(struct.pack("!q", code))
    finally:
        os._exit(code)


def _exit_when_closed(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        if conn.recv(1) == b"":
            os._exit(1)


if __name__ == "__main__":
    # serve from the importable module, whose _IN_JOB the jobs' own handoff() calls read
    from vitmed.jobs import warm
    warm.serve(sys.argv[1])
