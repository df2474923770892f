"""Style: the library, scripts and tests pass ruff, the workflow passes snakefmt (settings in
pyproject.toml); `snakemake --lint` is checked in test_config.py."""
import subprocess
import sys

from helpers import ROOT


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT)


def test_python_passes_ruff():
    result = run_tool("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_passes_snakefmt():
    result = run_tool("snakefmt", "--check", "Snakefile", "workflow/rules")
    assert result.returncode == 0, result.stdout + result.stderr
