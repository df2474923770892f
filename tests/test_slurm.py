"""The project's SLURM profile on a real (one-node, localhost) SLURM cluster."""
import re

import pandas as pd
import pytest
import yaml
from helpers import ROOT, SYNTHETIC, load_preset, run_snakemake
from slurm_cluster import local_slurm, unavailable_reason

REASON = unavailable_reason()


def micro_study() -> dict:
    """Every stage of the DAG, at the smallest size that still trains and evaluates."""
    config = load_preset(*SYNTHETIC)
    config["study"] = "micro"
    config["seeds"] = [0]
    config["datasets"] = {"SynSkin": dict(config["datasets"]["SynSkin"], n_images=120)}
    config["models"] = {"ViT-toy": config["models"]["ViT-toy"]}
    config["inits"] = ["random", "imagenet"]
    config.pop("ablations")  # Tables 4 and 5 run through the same finetune rule
    config["imagenet"]["synthetic_source"].update(n_images=160, epochs=1)
    config["finetune"].update(max_epochs=1, warmup_iters=2)
    config["analysis"].update(n_images=8, saliency={})  # Figure 4 needs a CNN too
    config["segmentation"].update(datasets={"SynLesionSeg": dict(config["segmentation"]["datasets"]["SynLesionSeg"],
                                                                 n_images=60)},
                                  models=["ViT-toy"], finetune={"max_epochs": 1, "batch_size": 8})  # no Figure 2
    return config


def finished_values(study) -> pd.DataFrame:
    runs = pd.read_parquet(study / "runs.parquet").drop(columns="seconds_per_image")  # a timing, not a result
    return runs.sort_values(["dataset", "model", "init", "seed", "protocol"]).reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.skipif(REASON is not None, reason=str(REASON))
def test_profile_runs_the_study_through_slurm_with_local_results(tmp_path):
    config = micro_study()
    local_dir, slurm_dir = tmp_path / "local", tmp_path / "slurm"
    local_dir.mkdir()
    slurm_dir.mkdir()
    # the same threads per job as the profile gives (torch's float sums depend on the thread count)
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    threads = [f"{rule}={n}" for rule, n in profile["set-threads"].items()]
    local = run_snakemake(local_dir, config, "--cores", "2", "--set-threads", *threads)
    assert local.returncode == 0, local.stderr[-3000:]

    with local_slurm(tmp_path / "cluster") as controller_log:
        cluster = run_snakemake(
            slurm_dir, config, "--profile", str(ROOT / "profiles" / "slurm"), "--jobs", "2",
            # no accounting database here: poll squeue, and start polling at once
            "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
            "--slurm-no-account", timeout=1500)
        assert cluster.returncode == 0, cluster.stderr[-5000:]
        submitted = re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", controller_log.read_text())

    # Snakemake announces submitted jobs as "rule X:", jobs it runs itself as "localrule X:"
    remote_jobs = re.findall(r"^rule (\w+):", cluster.stdout + cluster.stderr, re.MULTILINE)
    assert remote_jobs and len(submitted) == len(remote_jobs), (submitted, remote_jobs)
    assert "finetune" in remote_jobs and "pretrain_source" in remote_jobs and "segment" in remote_jobs

    # the same numbers whether the jobs ran here or through SLURM
    ours, theirs = finished_values(slurm_dir / "results" / "micro"), finished_values(local_dir / "results" / "micro")
    pd.testing.assert_frame_equal(ours, theirs)
    assert (slurm_dir / "results" / "micro" / "tables" / "table1.md").read_text() == \
        (local_dir / "results" / "micro" / "tables" / "table1.md").read_text()
