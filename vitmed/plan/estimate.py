"""Plan before spending: the jobs of a study per stage and an estimate of their GPU-hours.

    snakemake throughput [--configfile config.yaml]     # on the target GPU: plan/throughput.csv
    python -m vitmed.plan [--configfile config.yaml] [--throughput throughput.csv]

Job counts come from Snakemake's own dry run of the whole study (``--forceall``: done or not).
GPU time is images processed / throughput: fine-tuning runs ``finetune.max_epochs`` epochs over
the training split (an upper bound: saturation stops runs earlier) plus a validation pass per
epoch, for every run of the study model (vitmed.study) and of its search, and so does segmentation, at DeepLabV3's
measured throughput at the segmentation input size; DINO runs
``dino.epochs`` over the training split with 2 global and N local crops (a crop costs in
proportion to its pixel count); k-NN embeds train and test once per initialized encoder.
Throughput (images/s per model at ``input_size``, training and inference) is what the
workflow's ``throughput`` rule measured (``results/<study>/plan/throughput.csv``, or the CSV
given with ``--throughput``), with any model in ``plan.throughput`` of the config overriding it.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

from vitmed.plan.throughput import with_overrides
from vitmed.study import SOURCE, SOURCE_SPLIT, Study

ROOT = Path(__file__).resolve().parents[2]
TRAINING_STAGES = ("pretrain_source", "pretrain_dino", "search_run", "finetune", "segment", "knn", "linear_probe",
                   "analyze")


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake dry run."""
    lines = dry_run_output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Job stats")), None)
    if start is None:
        raise ValueError("no 'Job stats' table in the dry run output")
    counts = {}
    for line in lines[start + 3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def dry_run(configfiles: list[Path]) -> dict[str, int]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--forceall",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(ROOT),
            "--configfile",
            *map(str, configfiles),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"snakemake -n failed:\n{done.stderr[-2000:]}")
    return job_counts(done.stdout + done.stderr)


def gpu_hours(config: dict, throughput: pd.DataFrame) -> pd.DataFrame:
    """Estimated GPU-hours per (stage, dataset, model) of a validated config's study;
    ``throughput`` has columns model, train_images_per_s, infer_images_per_s."""
    study = Study.from_config(config)
    if "task" not in throughput.columns:
        throughput = throughput.assign(task="classification")
    speed = throughput[throughput["task"] == "classification"].set_index("model")
    segmenting = throughput[throughput["task"] == "segmentation"].set_index("model")
    models = list(dict.fromkeys(study.models + study.ablation_models))
    missing = sorted(set(models) - set(speed.index))
    if missing:
        raise ValueError(f"no throughput for model(s) {missing}: run `snakemake throughput` on the target GPU "
                         f"or set plan.throughput.<model> in the config")
    sizes = config["plan"]["n_images"]
    size = config["input_size"]
    dino, finetune = config["dino"], config["finetune"]
    crop_cost = (2 * dino["global_crops"]["size"] ** 2
                 + dino["local_crops"]["number"] * dino["local_crops"]["size"] ** 2) / size ** 2
    runs = Counter((dataset, model) for dataset, model, _, _ in study.finetune_runs())  # shared runs count once
    searches = Counter((dataset, model) for dataset, model, _, _, _ in study.search_runs())
    rows = []
    for dataset in study.datasets:
        cfg = config["datasets"][dataset]
        n = sizes.get(dataset, cfg.get("n_images"))
        if n is None:
            raise ValueError(f"plan.n_images.{dataset} is not set: how many images does {dataset} have?")
        train, split = n * cfg["split"]["train"], n * (cfg["split"]["val"] + cfg["split"]["test"])
        for model in models:
            fit, infer = speed.loc[model, "train_images_per_s"], speed.loc[model, "infer_images_per_s"]
            run = finetune["max_epochs"] * (train / fit + n * cfg["split"]["val"] / infer)
            seconds = {"finetune": runs[(dataset, model)] * run, "search_run": searches[(dataset, model)] * run}
            if model in study.models:
                encoders = len(study.seeds) + len(study.inits) - 1  # a pretrained one once for all seeds
                seconds["knn"] = encoders * (train + split) / infer
                if study.linear_on:  # feature extraction; the fits are small
                    seconds["linear_probe"] = encoders * (train + split) / infer
                if "dino" in study.inits:
                    seconds["pretrain_dino"] = dino["epochs"] * train * crop_cost / fit
            rows += [{"stage": stage, "dataset": dataset, "model": model, "gpu_hours": s / 3600}
                     for stage, s in seconds.items() if s > 0]
    missing = sorted(set(study.segmentation_models) - set(segmenting.index)) if study.segmentation_on else []
    if missing:
        raise ValueError(f"no segmentation throughput for model(s) {missing}: run `snakemake throughput` on the "
                         "target GPU (it measures DeepLabV3 on every segmentation encoder)")
    max_epochs = study.segmentation_settings["max_epochs"]
    for (dataset, model), n_runs in Counter((d, m) for d, m, _ in study.segment_runs()).items():
        cfg = study.dataset_config(dataset)
        n = sizes.get(dataset, cfg.get("n_images") if cfg["source"] == "synthetic" else None)
        if n is None:
            raise ValueError(f"plan.n_images.{dataset} is not set: how many images does {dataset} have?")
        fit, infer = segmenting.loc[model, "train_images_per_s"], segmenting.loc[model, "infer_images_per_s"]
        seconds = n_runs * max_epochs * (n * cfg["split"]["train"] / fit + n * cfg["split"]["val"] / infer)
        rows.append({"stage": "segment", "dataset": dataset, "model": model, "gpu_hours": seconds / 3600})
    # the synthetic ImageNet stand-in: one supervised source training per model that starts from it
    source = config["imagenet"]["synthetic_source"]
    for model in study.source_pretrained_models():
        fit, infer = speed.loc[model, "train_images_per_s"], speed.loc[model, "infer_images_per_s"]
        seconds = source["epochs"] * source["n_images"] * (SOURCE_SPLIT["train"] / fit + SOURCE_SPLIT["val"] / infer)
        rows.append({"stage": "pretrain_source", "dataset": SOURCE, "model": model, "gpu_hours": seconds / 3600})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="jobs per stage and estimated GPU-hours of a study")
    parser.add_argument("--configfile", type=Path, nargs="+", default=[ROOT / "config.yaml"],
                        help="one config, or several merged in order as Snakemake merges them")
    parser.add_argument("--throughput", type=Path,
                        help="CSV of the throughput rule (default: results/<study>/plan/throughput.csv)")
    args = parser.parse_args(argv)
    from snakemake.utils import update_config, validate  # validate fills in the defaults the workflow would use

    config = {}
    for configfile in args.configfile:
        update_config(config, yaml.safe_load(configfile.read_text()))
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    counts = dry_run(args.configfile)
    measured_path = args.throughput or ROOT / config["results_dir"] / config["study"] / "plan" / "throughput.csv"
    if args.throughput and not args.throughput.exists():
        raise SystemExit(f"--throughput {args.throughput}: no such file")
    measured = pd.read_csv(measured_path) if measured_path.exists() else None
    throughput = with_overrides(measured, config["plan"]["throughput"])
    if throughput.empty:
        raise SystemExit(f"no throughput: measure it on the target GPU with `snakemake throughput --configfile "
                         f"{' '.join(map(str, args.configfile))}` (writes {measured_path}), or set plan.throughput "
                         "in the config")
    hours = gpu_hours(config, throughput)
    print(f"study {config['study']}: {sum(counts.values())} jobs")
    per_stage = hours.groupby("stage")["gpu_hours"].sum()
    for stage, count in counts.items():
        estimate = f"{per_stage[stage]:10.2f} GPU-h" if stage in per_stage else (
            "  (GPU, not estimated)" if stage in TRAINING_STAGES else "")
        print(f"  {stage:<22}{count:>6} jobs {estimate}")
    print(f"  {'total':<22}{sum(counts.values()):>6} jobs {per_stage.sum():10.2f} GPU-h (fine-tuning at "
          f"max_epochs: an upper bound)")
    print(hours.pivot_table(index="dataset", columns="stage", values="gpu_hours", aggfunc="sum").round(2).to_string())


if __name__ == "__main__":
    main()
