# Shared wiring: the study model, result paths, wildcard constraints and input functions.
# What the study runs and reports is derived (and its config checked) in vitmed/study.py.
import re
import sys

sys.path.insert(0, workflow.basedir)  # vitmed.study needs only the standard library: no install here
from vitmed.models.names import check_timm_names
from vitmed.study import SOURCE, TABLE_PROTOCOLS, Study

STUDY = Study.from_config(config)
check_timm_names(config, STUDY.model_configs)  # or stop here naming the key, where timm can be imported
RESULTS = STUDY.results
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"


wildcard_constraints:
    dataset="|".join(
        map(re.escape, STUDY.datasets + [SOURCE] + list(STUDY.test_datasets) + STUDY.segmentation_datasets)
    ),
    model="|".join(map(re.escape, STUDY.model_configs)),
    init="|".join(map(re.escape, dict.fromkeys(STUDY.inits + [STUDY.ablation_init]))),
    seed=r"\d+",
    size=r"\d+",
    point="|".join(map(re.escape, STUDY.search_points)) or "(?!)",  # (?!): no search, no point


def final_outputs():
    """The default target's files: every table and figure of the study (vitmed.study.Study.artefacts)."""
    return STUDY.final_outputs()


def artefact_outputs(rule_name):
    """A rule's tables and figures as named outputs ``<name>_<ext>``; the Markdown of a table and
    the PNG of a figure appear in the report, with ``workflow/report/<caption>.rst``."""
    outputs = {}
    for artefact in STUDY.artefacts_of(rule_name):
        for file in artefact.files:
            ext = file.rsplit(".", 1)[1]
            path = f"{RESULTS}/{file}"
            if ext in ("md", "png"):
                path = report(path, category=artefact.category, caption=f"../report/{artefact.caption}.rst")
            outputs[f"{artefact.name}_{ext}"] = path
    return outputs


def raw_input(wildcards):
    """prepare reads the synthetic raw layout, or the record of a real dataset's raw folder."""
    if STUDY.dataset_config(wildcards.dataset)["source"] == "synthetic":
        return f"{RESULTS}/raw/{wildcards.dataset}/labels.csv"
    return f"{RESULTS}/raw/{wildcards.dataset}/source.json"


def finetune_file(dataset, model, init, seed, name):
    """A file of one fine-tuning run: metrics.json, best.pt or log.csv."""
    return f"{RESULTS}/finetune/{dataset}/{model}/{init}/seed{seed}/{name}"


def finetuned_checkpoint(dataset, model, init):
    """The first seed's fine-tuned weights: what the analyses look at."""
    return finetune_file(dataset, model, init, STUDY.seeds[0], "best.pt")


def finetune_metrics():
    """The metrics files of every fine-tuning run of the study, ablations included."""
    return [
        finetune_file(dataset, model, init, seed, "metrics.json")
        for dataset, model, init, seed in STUDY.finetune_runs()
    ]


def segment_metrics():
    """The metrics files of every segmentation run (Table 2)."""
    return [
        f"{RESULTS}/segment/{dataset}/{model}/seed{seed}/metrics.json" for dataset, model, seed in STUDY.segment_runs()
    ]


def ood_runs(wildcards):
    """Every fine-tuning run of a dataset at the study's input size (the test sets are stored for
    it): its model's config, best weights and metrics file."""
    return [
        {
            "model_config": STUDY.model_configs[model],
            "checkpoint": finetune_file(wildcards.dataset, model, init, seed, "best.pt"),
            "metrics": finetune_file(wildcards.dataset, model, init, seed, "metrics.json"),
        }
        for model, init in STUDY.finetuned_pairs(wildcards.dataset)
        if STUDY.store_size_of(model) is None
        for seed in STUDY.seeds
    ]


def analysis_runs(wildcards):
    """The (model, init) pairs the analyses of a dataset compare: the initialized weights and
    the fine-tuned first-seed checkpoint of every model and init of the study."""
    return [
        {
            "model": model,
            "init": init,
            "seed": STUDY.seeds[0],
            "weights": STUDY.weights_source(wildcards.dataset, model, init),
            "tuned": finetuned_checkpoint(wildcards.dataset, model, init),
        }
        for model in STUDY.models
        for init in STUDY.inits
    ]


def analysis_inputs(wildcards):
    """The data, and every compared run's initial weights file and fine-tuned checkpoint."""
    runs = analysis_runs(wildcards)
    return {
        "meta": f"{STUDY.data_dir(wildcards.dataset, STUDY.seeds[0])}/meta.json",
        "weights": [w for run in runs for w in STUDY.init_weights(wildcards.dataset, run["model"], run["init"])],
        "tuned": [run["tuned"] for run in runs],
    }
