# Shared wiring: the study's result root, wildcard constraints and input functions.
import re

RESULTS = f"{config['results_dir']}/{config['study']}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"

DATASETS = list(config["datasets"])
MODELS = list(config["models"])
INITS = list(config["inits"])
SEEDS = list(config["seeds"])
# The ablations (Tables 4, 5, Figure 3) fine-tune more models, from one init, on some datasets.
ABLATIONS = config["ablations"]
MODEL_CONFIGS = {**config["models"], **ABLATIONS["models"]}
CAPACITY = {family: ABLATIONS["capacity"].get(family, []) for family in ("cnn", "vit")}
CAPACITY_ON = bool(CAPACITY["cnn"] or CAPACITY["vit"])
PATCH_SIZES = {int(size): name for size, name in ABLATIONS["patch_size"].items()}
SELF_ATTENTION = ABLATIONS["self_attention"]  # CNN -> its variants with self-attention blocks
SELF_ATTENTION_MODELS = [m for base, variants in SELF_ATTENTION.items() for m in [base, *variants]]
# a self-attention or freezing variant starts from its base model's weights
BASE_MODEL = {variant: base for group in (SELF_ATTENTION, ABLATIONS["freezing"]) for base, variants in group.items()
              for variant in variants}
FREEZING = ABLATIONS["freezing"]  # ViT -> its variants with frozen first blocks
FREEZING_MODELS = [m for base, variants in FREEZING.items() for m in [base, *variants]]
ABLATION_MODELS = list(dict.fromkeys(CAPACITY["cnn"] + CAPACITY["vit"] + list(PATCH_SIZES.values())
                                     + SELF_ATTENTION_MODELS + FREEZING_MODELS))
ABLATION_DATASETS = DATASETS if ABLATIONS["datasets"] is None else ABLATIONS["datasets"]
for key, names, allowed in (("ablations.capacity.cnn", CAPACITY["cnn"], MODEL_CONFIGS),
                            ("ablations.capacity.vit", CAPACITY["vit"], MODEL_CONFIGS),
                            ("ablations.patch_size", PATCH_SIZES.values(), MODEL_CONFIGS),
                            ("ablations.self_attention", SELF_ATTENTION_MODELS, MODEL_CONFIGS),
                            ("ablations.freezing", FREEZING_MODELS, MODEL_CONFIGS),
                            ("ablations.datasets", ABLATION_DATASETS, DATASETS)):
    for name in names:
        if name not in allowed:
            raise ValueError(f"{key}: {name!r} is not one of {list(allowed)} (models and ablations.models)"
                             if allowed is MODEL_CONFIGS else f"{key}: {name!r} is not one of the study's {DATASETS}")
for family in ("cnn", "vit"):
    for name in CAPACITY[family]:
        if MODEL_CONFIGS[name]["family"] != family:
            raise ValueError(f"ablations.capacity.{family}: {name!r} is a {MODEL_CONFIGS[name]['family']}")
for base, variants in SELF_ATTENTION.items():
    for name in [base, *variants]:
        if MODEL_CONFIGS[name]["family"] != "cnn":
            raise ValueError(f"ablations.self_attention: {name!r} is a {MODEL_CONFIGS[name]['family']}, not a CNN")
    for name in variants:
        attention = MODEL_CONFIGS[name]["self_attention"]
        if not attention["global_after"] and "local" not in attention:
            raise ValueError(f"ablations.self_attention.{base}: {name!r} has no self_attention "
                             "(global_after or local)")
for dataset, models in config["finetune"]["overrides"].items():
    if dataset not in DATASETS:
        raise ValueError(f"finetune.overrides: {dataset!r} is not one of the study's datasets {DATASETS}")
    for name in models:
        if name not in MODEL_CONFIGS:
            raise ValueError(f"finetune.overrides.{dataset}: {name!r} is not one of {list(MODEL_CONFIGS)} "
                             "(models and ablations.models)")
for base, variants in FREEZING.items():
    for name in variants:
        if MODEL_CONFIGS[name]["freeze_blocks"] < 1 or MODEL_CONFIGS[name]["timm_name"] != MODEL_CONFIGS[base]["timm_name"]:
            raise ValueError(f"ablations.freezing.{base}: {name!r} must be {base}'s timm model "
                             f"({MODEL_CONFIGS[base]['timm_name']}) with freeze_blocks >= 1")
if ABLATION_MODELS and ABLATIONS["init"] not in ("random", "imagenet", "pretrained"):
    raise ValueError(f"ablations.init: {ABLATIONS['init']!r} must be random, imagenet or pretrained "
                     "(DINO pretraining runs for the study's own models only)")
# The synthetic ImageNet stand-in is prepared like any dataset, under a reserved name.
SOURCE = "source-imagenet"
# Out-of-distribution test sets: prepared like datasets, never trained on.
TEST_DATASETS = config["test_datasets"]
OOD_TESTS = {name: cfg["ood_test"] for name, cfg in config["datasets"].items() if "ood_test" in cfg}
for name, test in OOD_TESTS.items():
    if test not in TEST_DATASETS:
        raise ValueError(f"datasets.{name}.ood_test: {test!r} is not one of test_datasets {list(TEST_DATASETS)}")
for name in TEST_DATASETS:
    if name in DATASETS or name == SOURCE:
        raise ValueError(f"test_datasets: {name!r} is also a dataset name; a test set needs its own")
# Figure 4 needs one CNN and one ViT of the study, fine-tuned from an init the study runs.
SALIENCY = config["analysis"]["saliency"]
for key, allowed in (("cnn", MODELS), ("vit", MODELS), ("init", INITS)):
    if key in SALIENCY and SALIENCY[key] not in allowed:
        raise ValueError(f"analysis.saliency.{key}: {SALIENCY[key]!r} is not one of the study's {allowed}")
SALIENCY_ON = "cnn" in SALIENCY and "vit" in SALIENCY
# Frozen-encoder protocols besides fine-tuning, each with its per-dataset job and table.
LINEAR_ON = config["linear_probe"]["enabled"]
RESULT_TABLES = {"table1": "Table 1", "table3": "Table 3", **({"linear_probe": "Linear probe"} if LINEAR_ON else {}),
                 **({"ood": "Out-of-distribution"} if OOD_TESTS else {})}
# Figure 5 measures the attention of ViTs the study fine-tunes.
ATTENTION_MODELS = config["analysis"]["attention_models"]
for name in ATTENTION_MODELS:
    if config["models"].get(name, {}).get("family") != "vit":
        raise ValueError(f"analysis.attention_models: {name!r} is not one of the study's ViTs "
                         f"{[m for m in MODELS if config['models'][m]['family'] == 'vit']}")


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS + [SOURCE] + list(TEST_DATASETS))),
    model="|".join(map(re.escape, MODEL_CONFIGS)),
    init="|".join(map(re.escape, dict.fromkeys(INITS + [ABLATIONS["init"]]))),
    seed=r"\d+",


def dataset_config(name):
    """Config of a target dataset, or of the synthetic source set."""
    if name == SOURCE:
        source = config["imagenet"]["synthetic_source"]
        return {"source": "synthetic", "generator": source["generator"], "metric": "macro_recall",
                "n_images": source["n_images"], "raw_size": source["raw_size"],
                # = vitmed.data.synthetic.SOURCE_SPLIT, which the plan reads (no vitmed import here:
                # Snakemake itself may run where only the jobs' conda env has vitmed)
                "split": {"train": 0.8, "val": 0.1, "test": 0.1}, "raw_dir": None, "skip_unreadable": False}
    if name in TEST_DATASETS:  # all of a test set is test data, whatever split its publisher made
        return {**TEST_DATASETS[name], "split": {"train": 0.0, "val": 0.0, "test": 1.0}, "all_test": True}
    return config["datasets"][name]


def weights_source(dataset, model, init):
    """What the resolver in vitmed.models receives: None, "timm-hub" or a file path."""
    if init == "random":
        return None
    if init == "dino":
        return f"{RESULTS}/dino/{dataset}/{model}/teacher.pt"
    if init == "pretrained":  # the model's own hub weights (foundation models)
        return "timm-hub"
    source = config["imagenet"]["source"]
    if source == "hub":
        return "timm-hub"
    model = BASE_MODEL.get(model, model)
    if source == "file":
        path = MODEL_CONFIGS[model]["imagenet_file"]
        if not path:
            raise ValueError(f"imagenet.source is 'file' but the imagenet_file of model {model} is not set")
        return path
    return f"{RESULTS}/weights/{model}/imagenet.pt"


def raw_input(wildcards):
    """prepare reads the synthetic raw layout, or the record of a real dataset's raw folder."""
    if dataset_config(wildcards.dataset)["source"] == "synthetic":
        return f"{RESULTS}/raw/{wildcards.dataset}/labels.csv"
    return f"{RESULTS}/raw/{wildcards.dataset}/source.json"


def init_weights(dataset, model, init):
    """The weights file an init starts from, as a job input ([] for random init and the hub)."""
    source = weights_source(dataset, model, init)
    return [] if source in (None, "timm-hub") else [source]


def finetuned_checkpoint(dataset, model, init):
    """The first seed's fine-tuned weights: what the analyses look at."""
    return f"{RESULTS}/finetune/{dataset}/{model}/{init}/seed{SEEDS[0]}/best.pt"


def finetune_metrics(datasets, models, inits):
    """The metrics files of every fine-tuning run of these datasets, models and inits."""
    return expand(f"{RESULTS}/finetune/{{dataset}}/{{model}}/{{init}}/seed{{seed}}/metrics.json",
                  dataset=datasets, model=models, init=inits, seed=SEEDS)


# The finetune section jobs read, without the per-run overrides: a fine-tuning job gets its own
# entry only (finetune_override), so that editing another run's entry reruns nothing else.
FINETUNE = {key: value for key, value in config["finetune"].items() if key != "overrides"}


def finetune_override(wildcards):
    """This run's entry of finetune.overrides: its own lr and/or weight_decay, or nothing."""
    return config["finetune"]["overrides"].get(wildcards.dataset, {}).get(wildcards.model, {})


def finetuned_pairs(dataset):
    """(model, init) of every fine-tuning of a dataset: the study's, and the ablations' on theirs."""
    pairs = [(model, init) for model in MODELS for init in INITS]
    if dataset in ABLATION_DATASETS:
        pairs += [(model, ABLATIONS["init"]) for model in ABLATION_MODELS]
    return list(dict.fromkeys(pairs))


def ood_runs(wildcards):
    """Every fine-tuning run of a dataset: its model's config, best weights and metrics file."""
    return [{"model_config": MODEL_CONFIGS[model],
             "checkpoint": f"{RESULTS}/finetune/{wildcards.dataset}/{model}/{init}/seed{seed}/best.pt",
             "metrics": f"{RESULTS}/finetune/{wildcards.dataset}/{model}/{init}/seed{seed}/metrics.json"}
            for model, init in finetuned_pairs(wildcards.dataset) for seed in SEEDS]


def analysis_runs(wildcards):
    """The (model, init) pairs the analyses of a dataset compare: the initialized weights and
    the fine-tuned first-seed checkpoint of every model and init of the study."""
    return [{"model": model, "init": init, "seed": SEEDS[0],
             "weights": weights_source(wildcards.dataset, model, init),
             "tuned": finetuned_checkpoint(wildcards.dataset, model, init)}
            for model in MODELS for init in INITS]


def analysis_inputs(wildcards):
    """The data, and every compared run's initial weights file and fine-tuned checkpoint."""
    runs = analysis_runs(wildcards)
    return {"meta": f"{RESULTS}/data/{wildcards.dataset}/meta.json",
            "weights": [w for run in runs for w in init_weights(wildcards.dataset, run["model"], run["init"])],
            "tuned": [run["tuned"] for run in runs]}