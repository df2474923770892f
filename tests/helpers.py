"""Running Snakemake on this repository's workflow from tests."""
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_snakemake(workdir: Path, config: dict | None, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
               "--directory", str(workdir), *args]
    if config is not None:
        config_path = workdir / "config.test.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        command += ["--configfile", str(config_path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=workdir)


def load_preset(name: str) -> dict:
    return yaml.safe_load((ROOT / "presets" / f"{name}.yaml").read_text())


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table that snakemake prints."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    counts = {}
    for line in lines[start + 3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts
