"""Running Snakemake on this repository's workflow from tests."""
import subprocess
import sys
from pathlib import Path

import yaml

from vitmed.plan.estimate import job_counts  # noqa: F401  (the tests read dry runs with the plan's parser)

ROOT = Path(__file__).resolve().parents[1]


def run_snakemake(workdir: Path, config: dict | None, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
               "--directory", str(workdir), *args]
    if config is not None:
        config_path = workdir / "config.test.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        command += ["--configfile", str(config_path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=workdir)


# the synthetic study with its companion-study overlay: every stage of the DAG (`make demo` runs the first only)
SYNTHETIC = ("synthetic", "synthetic_companions")


def load_preset(*names: str) -> dict:
    """A preset, or several merged in order as ``snakemake --configfile a.yaml b.yaml`` merges them."""
    from snakemake.utils import update_config

    config = {}
    for name in names:
        update_config(config, yaml.safe_load((ROOT / "presets" / f"{name}.yaml").read_text()))
    return config


def kill_at_first_checkpoint(target, args: tuple, run_dir: Path, timeout: float = 300) -> None:
    """Run ``target(*args)`` in a fresh process and SIGKILL it, as a preempted cluster job, as
    soon as its run writes ``run_dir/checkpoint.pt`` (after its first epoch)."""
    import multiprocessing as mp
    import time

    process = mp.get_context("spawn").Process(target=target, args=args)
    process.start()
    deadline = time.time() + timeout
    while not (Path(run_dir) / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.kill()
    process.join()
