"""Device claiming for several GPU jobs on one machine (profiles/local-gpu)."""
import subprocess
import sys

import pytest

from vitmed.jobs.devices import claim_device

HOLD = """
import sys, time
from pathlib import Path
from vitmed.jobs.devices import claim_device
print(claim_device(int(sys.argv[1]), Path(sys.argv[2])), flush=True)
time.sleep(60)
"""


def holder(n, directory):
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(n), str(directory)], stdout=subprocess.PIPE, text=True)
    return process, int(process.stdout.readline())


def test_concurrent_jobs_get_distinct_devices_and_a_killed_job_frees_its_own(tmp_path):
    first, first_device = holder(3, tmp_path)
    second, second_device = holder(3, tmp_path)
    try:
        assert {first_device, second_device} == {0, 1}
        assert claim_device(3, tmp_path) == 2
        assert claim_device(3, tmp_path) == 2, "a job asking again keeps its device"
        first.kill()
        first.wait()
        third, third_device = holder(3, tmp_path)  # the killed job's device is free again
        third.kill()
        assert third_device == first_device
    finally:
        for process in (first, second):
            process.kill()
            process.wait()


def test_more_jobs_than_devices_is_a_clear_error(tmp_path):
    process, device = holder(1, tmp_path)
    try:
        assert device == 0
        with pytest.raises(RuntimeError, match="all 1 GPUs are held.*--resources gpu=1"):
            claim_device(1, tmp_path / ".." / tmp_path.name)  # another path spelling, same directory
    finally:
        process.kill()
        process.wait()
