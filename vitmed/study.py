"""The study model: a validated config turned into what a study runs and what it reports.

The Snakefile, ``python -m vitmed.plan`` and the report scripts read the study from here, so
that the sets they derive (datasets, models, inits, ablation sets, base models, runs, tables,
figures) are computed once, and every cross-field check of a config runs, and can be tested,
without Snakemake. Standard library only: Snakemake imports this module in its own process,
which may not have the jobs' environment (torch, pandas) when rules run with ``--use-conda``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

SOURCE = "source-imagenet"  # the synthetic ImageNet stand-in, prepared like a dataset
DOWNLOAD = "download"  # analysis.feature_usage.dermoscopic_masks_dir: fetched from the ISIC archive
# the synthetic ImageNet stand-in's split (workflow and plan): most of it trains the source model
SOURCE_SPLIT = {"train": 0.8, "val": 0.1, "test": 0.1}
HUB = "timm-hub"  # a weights source: the model's pretrained weights from timm's hub (vitmed.models.factory)
PRETRAINED_INITS = ("random", "imagenet", "pretrained")  # the inits an ablation may start from

# The task of each source's labels, known before any job reads them (MedMNIST's depends on the
# flag: checked when it is prepared). Synthetic generators: = vitmed.data.synthetic (a test).
SOURCE_TASKS = {"aptos2019": "multiclass", "isic2019": "multiclass", "cbis_ddsm": "binary", "chexpert": "multilabel",
                "pcam": "binary", "pad_ufes20": "multiclass", "camelyon17": "binary"}
GENERATOR_TASKS = {"fundus_grades": "multiclass", "mammo_mass": "binary", "skin_lesions": "multiclass",
                   "chest_findings": "multilabel", "lymph_patches": "binary", "lymph_patches_other_site": "binary",
                   "source_objects": "multiclass", "lesion_masks": "segmentation",
                   "lesion_classes": "multiclass", "mass_masks": "segmentation"}
SEGMENTATION_SOURCES = ("synthetic", "isic2018", "csaw_s")
# segmentation's fine-tuning settings where the study's finetune section does not fit 512-pixel
# DeepLabV3 (segmentation.finetune overrides these and any other key of finetune)
SEGMENTATION_FINETUNE = {"batch_size": 16, "eval_batch_size": 16}
METRIC_TASKS = {"quadratic_kappa": ("binary", "multiclass"), "roc_auc": ("binary",),
                "macro_recall": ("binary", "multiclass"), "macro_roc_auc": ("multilabel",)}


def dataset_task(cfg: dict) -> str | None:
    """A dataset's task from its config (None where only its files tell)."""
    if cfg.get("label_groups"):
        return "binary" if len(cfg["label_groups"]) == 2 else "multiclass"
    if cfg["source"] == "synthetic":
        return GENERATOR_TASKS.get(cfg["generator"])
    return SOURCE_TASKS.get(cfg["source"])


@dataclass(frozen=True)
class Artefact:
    """A table or figure of the study: its files, the rule that writes them, and its entry in
    the ``snakemake --report`` page (category; caption ``workflow/report/<caption>.rst``)."""
    name: str
    rule: str
    files: tuple[str, ...]
    category: str
    caption: str

    def paths(self, results: str) -> list[str]:
        return [f"{results}/{file}" for file in self.files]


def _table(name: str, rule: str, category: str, exts=("csv", "md", "tex")) -> Artefact:
    return Artefact(name, rule, tuple(f"tables/{name}.{ext}" for ext in exts), category, name)


def _figure(name: str, rule: str, category: str) -> Artefact:
    return Artefact(name, rule, (f"figures/{name}.png", f"figures/{name}.pdf"), category, name)


# The protocol of runs.parquet each result table of rule ``tables`` summarizes.
TABLE_PROTOCOLS = {"table1": "finetune", "table2": "segmentation", "table3": "knn", "linear_probe": "linear",
                   "ood": "ood"}


@dataclass(frozen=True)
class Study:
    """The study a config describes. Build it with ``Study.from_config`` (which checks it)."""
    config: dict

    @classmethod
    def from_config(cls, config: dict) -> Study:
        """The study of a config already validated against the schema (defaults filled in);
        a cross-field error raises ``ValueError`` naming the config key."""
        study = cls(config)
        study.check()
        return study

    # --- what the study runs -------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config["study"]

    @property
    def results(self) -> str:
        return f"{self.config['results_dir']}/{self.name}"

    @property
    def datasets(self) -> list[str]:
        return list(self.config["datasets"])

    @property
    def models(self) -> list[str]:
        return list(self.config["models"])

    @property
    def inits(self) -> list[str]:
        return list(self.config["inits"])

    @property
    def seeds(self) -> list[int]:
        return list(self.config["seeds"])

    @property
    def repetitions(self) -> str:
        """What a repetition varies: ``seeds`` (initialization and data order on one split) or
        ``splits`` (each seed also draws its own train/val/test split, Piater et al.'s)."""
        return self.config["repetitions"]

    @property
    def repetition_unit(self) -> str:
        """What the tables' ± and Welch's tests run over."""
        return "data splits" if self.repetitions == "splits" else "seeds"

    def data_dir(self, dataset: str, seed: int | None = None, model: str | None = None) -> str:
        """The store a job reads: a model with its own input size reads the dataset stored at its
        size (rule prepare_resized); a target dataset's repetition ``seed`` reads its own split
        (rule resplit) of the store when repetitions are data splits."""
        base = f"{self.results}/data/{dataset}"
        if model is not None and self.store_size_of(model) is not None:
            base = f"{base}/px{self.store_size_of(model)}"
        if self.repetitions == "splits" and seed is not None and dataset in self.config["datasets"]:
            return f"{base}/split{seed}"
        return base

    def input_size_of(self, model: str) -> int:
        """The side of the crops a model is trained and tested on: its own or the study's."""
        return self.model_configs[model].get("input_size") or self.config["input_size"]

    def store_size_of(self, model: str) -> int | None:
        """The side a model with its own input size needs its datasets stored at: the study's
        image_size / input_size ratio kept (256 / 224: 1,170 for 1,024); None for the others."""
        own = self.model_configs[model].get("input_size")
        return None if own is None else round(own * self.config["image_size"] / self.config["input_size"])

    @property
    def ablations(self) -> dict:
        return self.config["ablations"]

    @property
    def ablation_init(self) -> str:
        return self.ablations["init"]

    @cached_property
    def model_configs(self) -> dict[str, dict]:
        """Every model the study may fine-tune: its own and the ablations'."""
        return {**self.config["models"], **self.ablations["models"]}

    def family(self, model: str) -> str:
        return self.model_configs[model]["family"]

    @cached_property
    def capacity(self) -> dict[str, list[str]]:
        """Table 4 / Figure 3: each family's models at increasing size."""
        return {family: list(self.ablations["capacity"].get(family, [])) for family in ("cnn", "vit")}

    @property
    def capacity_on(self) -> bool:
        return bool(self.capacity["cnn"] or self.capacity["vit"])

    @cached_property
    def patch_sizes(self) -> dict[int, str]:
        """Table 5: patch size -> the ViT with it."""
        return {int(size): name for size, name in self.ablations["patch_size"].items()}

    @property
    def self_attention(self) -> dict[str, list[str]]:
        """CNN -> its variants with self-attention blocks (Piater et al.)."""
        return self.ablations["self_attention"]

    @property
    def freezing(self) -> dict[str, list[str]]:
        """A model -> its freezing variants (Palés Huix et al.): a ViT's with its first blocks frozen
        (``freeze_blocks``), and any model's with its whole encoder frozen (``frozen``)."""
        return self.ablations["freezing"]

    @property
    def self_attention_vits(self) -> list[str]:
        """The study's ViTs run from the ablations' init: the self-attention table's ViT rows."""
        if self.ablation_init not in self.inits:
            return []
        return [m for m in self.models if self.family(m) == "vit"]

    def freezing_depths(self) -> dict[str, dict[int, str]]:
        """ViT -> {blocks frozen: its variant} (the claims check's ``frozen:<blocks>`` selections)."""
        return {base: {self.model_configs[name]["freeze_blocks"]: name for name in variants
                       if not self.model_configs[name].get("frozen", False)}
                for base, variants in self.freezing.items()}

    @property
    def appended(self) -> dict[str, list[str]]:
        """A foundation -> its variants with an appended classifier (``appended``), frozen or not,
        whole or decapitated (Palés Huix et al.'s scenarios 2 and 4, Figure 5)."""
        return self.ablations["appended"]

    def scenario_variants(self) -> dict[str, tuple[str, str]]:
        """Each variant of a foundation scenario -> (its foundation, the scenario's protocol):
        a ``frozen`` variant (encoder frozen, linear head fine-tuned) ``frozen_linear``; a whole
        foundation with an appended classifier ``frozen_appended`` or ``appended``."""
        variants = {name: (base, "frozen_linear") for base, names in self.freezing.items() for name in names
                    if self.model_configs[name].get("frozen", False)}
        for base, names in self.appended.items():
            for name in names:
                cfg = self.model_configs[name]
                if not cfg.get("decapitate"):
                    variants[name] = (base, "frozen_appended" if cfg.get("frozen", False) else "appended")
        return variants

    @property
    def resolution(self) -> dict[str, list[str]]:
        """A model -> its variants at their own input size (Palés Huix et al.'s Table 3)."""
        return self.ablations["resolution"]

    def resolution_sizes(self) -> dict[str, int]:
        """Each variant of ``resolution`` -> its input size."""
        return {name: self.input_size_of(name) for name in self._with_variants(self.resolution)}

    def protocol_variants(self) -> dict[str, tuple[str, str]]:
        """Every variant counted as a protocol of its base in the claims and the published
        comparison: the foundation scenarios and the high-resolution runs (``finetune_<size>``)."""
        return {**self.scenario_variants(),
                **{name: (base, f"finetune_{self.input_size_of(name)}")
                   for base, names in self.resolution.items() for name in names}}

    def decapitations(self) -> dict[str, dict[str, dict[int, str]]]:
        """Figure 5: a foundation -> {"frozen" / "unfrozen": {blocks kept: its appended variant}}."""
        out = {}
        for base, names in self.appended.items():
            for name in names:
                cfg = self.model_configs[name]
                if cfg.get("decapitate"):
                    scenario = "frozen" if cfg.get("frozen", False) else "unfrozen"
                    out.setdefault(base, {}).setdefault(scenario, {})[cfg["decapitate"]] = name
        return out

    @staticmethod
    def _with_variants(groups: dict[str, list[str]]) -> list[str]:
        return [model for base, variants in groups.items() for model in [base, *variants]]

    @property
    def self_attention_models(self) -> list[str]:
        return self._with_variants(self.self_attention)

    @property
    def freezing_models(self) -> list[str]:
        return self._with_variants(self.freezing)

    @cached_property
    def base_model(self) -> dict[str, str]:
        """A self-attention, freezing, appended-classifier or resolution variant -> the model whose
        weights it starts from."""
        return {variant: base for group in (self.self_attention, self.freezing, self.appended, self.resolution)
                for base, variants in group.items() for variant in variants}

    @cached_property
    def ablation_models(self) -> list[str]:
        """The models the ablations fine-tune (from ``ablations.init``), each once."""
        return list(dict.fromkeys(self.capacity["cnn"] + self.capacity["vit"] + list(self.patch_sizes.values())
                                  + self.self_attention_models + self.freezing_models
                                  + self._with_variants(self.appended) + self._with_variants(self.resolution)))

    @property
    def ablation_datasets(self) -> list[str]:
        return self.datasets if self.ablations["datasets"] is None else list(self.ablations["datasets"])

    @property
    def test_datasets(self) -> dict[str, dict]:
        """Out-of-distribution test sets: prepared like datasets, never trained on."""
        return self.config["test_datasets"]

    @cached_property
    def ood_tests(self) -> dict[str, str]:
        """Dataset -> its out-of-distribution test set."""
        return {name: cfg["ood_test"] for name, cfg in self.config["datasets"].items() if "ood_test" in cfg}

    @property
    def saliency(self) -> dict:
        return self.config["analysis"]["saliency"]

    @property
    def saliency_on(self) -> bool:
        """Figure 4 needs one CNN and one ViT of the study."""
        return "cnn" in self.saliency and "vit" in self.saliency

    @property
    def attention_models(self) -> list[str]:
        """The ViTs whose attention distance Figure 5 measures."""
        return list(self.config["analysis"]["attention_models"])

    @property
    def times_baseline(self) -> str | None:
        """The model Figure 3's times are relative to (Palés Huix et al.: ImNet-1k-Sup), or None."""
        return self.config["analysis"]["times_baseline"]

    @property
    def attention_maps_on(self) -> bool:
        return bool(self.config["analysis"]["attention_maps"]["enabled"] and self.self_attention)

    @cached_property
    def attention_map_models(self) -> list[str]:
        """Piater et al.'s Table 4 rows: each base CNN and its self-attention variants, then the ViTs."""
        return [*self.self_attention_models, *self.self_attention_vits]

    @property
    def feature_usage(self) -> dict:
        return self.config["analysis"]["feature_usage"]

    @property
    def feature_usage_on(self) -> bool:
        return bool(self.feature_usage["enabled"])

    @property
    def feature_usage_models(self) -> list[str]:
        """Piater et al.'s Table 3 rows: Table 4's (each CNN, its variants, the ViTs)."""
        return self.attention_map_models if self.feature_usage_on else []

    def dermoscopic_masks_record(self) -> list[str]:
        """Where rule fetch_dermoscopic_masks records the downloaded Task 2 masks, if they are downloaded."""
        download = self.feature_usage_on and self.feature_usage["dermoscopic_masks_dir"] == DOWNLOAD
        return [f"{self.results}/raw/dermoscopic_masks.json"] if download else []

    def lesion_segmenter(self) -> str:
        """The checkpoint whose predicted lesion masks give the feature-usage analysis its mask features."""
        masks = self.feature_usage["lesion_masks"]
        return f"{self.results}/segment/{masks['dataset']}/{masks['model']}/seed{self.seeds[0]}/best.pt"

    @property
    def linear_on(self) -> bool:
        return self.config["linear_probe"]["enabled"]

    @property
    def finetune_settings(self) -> dict:
        """The ``finetune`` section without the per-run overrides: a fine-tuning job gets its own
        entry only (``finetune_override``), so that editing another run's entry reruns nothing else."""
        return {key: value for key, value in self.config["finetune"].items() if key != "overrides"}

    def finetune_override(self, dataset: str, model: str) -> dict:
        """This run's entry of ``finetune.overrides``: its own lr and/or weight_decay, or nothing."""
        return self.config["finetune"]["overrides"].get(dataset, {}).get(model, {})

    def metrics(self, datasets: list[str]) -> dict[str, str]:
        """Dataset -> its metric, for the tables' column headers."""
        return {name: self.config["datasets"][name]["metric"] for name in datasets}

    def dataset_config(self, name: str) -> dict:
        """Config of a target dataset, of an out-of-distribution test set, or of the synthetic source set."""
        if name == SOURCE:
            source = self.config["imagenet"]["synthetic_source"]
            return {"source": "synthetic", "generator": source["generator"], "metric": "macro_recall",
                    "n_images": source["n_images"], "raw_size": source["raw_size"], "split": dict(SOURCE_SPLIT),
                    "raw_dir": None, "skip_unreadable": False}
        if name in self.test_datasets:  # all of a test set is test data, whatever split its publisher made
            return {**self.test_datasets[name], "split": {"train": 0.0, "val": 0.0, "test": 1.0}, "all_test": True}
        if name in self.segmentation_datasets:
            cfg = self.segmentation["datasets"][name]
            return {**cfg, "metric": "iou", "split": {"test": 0.0, **cfg["split"]}}
        return self.config["datasets"][name]

    def weights_source(self, dataset: str, model: str, init: str) -> str | None:
        """What the weights resolver (vitmed.models.factory) receives: None (random init),
        ``"timm-hub"`` or a file path."""
        if init == "random":
            return None
        if init == "dino":
            return f"{self.results}/dino/{dataset}/{model}/teacher.pt"
        if init == "pretrained":  # the model's own weights (foundation models): its publisher's file, or timm's hub
            url = self.model_configs[model].get("weights_url")
            return f"{self.config['downloads_dir']}/weights/{url.rsplit('/', 1)[1]}" if url else HUB
        source = self.config["imagenet"]["source"]
        if source == "hub":
            return HUB
        model = self.base_model.get(model, model)
        if source == "file":
            path = self.model_configs[model]["imagenet_file"]
            if not path:
                raise ValueError(f"imagenet.source is 'file' but the imagenet_file of model {model} is not set")
            return path
        return f"{self.results}/weights/{model}/imagenet.pt"

    def released_weights(self) -> dict[str, str]:
        """File name -> URL of every publisher's checkpoint the study downloads (``weights_url``)."""
        urls = {cfg["weights_url"] for cfg in self.model_configs.values() if cfg.get("weights_url")}
        names = {}
        for url in sorted(urls):
            name = url.rsplit("/", 1)[1]
            if name in names:
                raise ValueError(f"weights_url: {names[name]} and {url} share the file name {name!r} in "
                                 "downloads_dir/weights")
            names[name] = url
        return names

    def init_weights(self, dataset: str, model: str, init: str) -> list[str]:
        """The weights file an init starts from, as a job input ([] for random init and the hub)."""
        source = self.weights_source(dataset, model, init)
        return [] if source in (None, HUB) else [source]

    def finetuned_pairs(self, dataset: str) -> list[tuple[str, str]]:
        """(model, init) of every fine-tuning of a dataset: the study's, and the ablations' on theirs."""
        pairs = [(model, init) for model in self.models for init in self.inits]
        if dataset in self.ablation_datasets:
            pairs += [(model, self.ablation_init) for model in self.ablation_models]
        return list(dict.fromkeys(pairs))

    def finetune_runs(self) -> list[tuple[str, str, str, int]]:
        """(dataset, model, init, seed) of every fine-tuning run, each once."""
        return [(dataset, model, init, seed) for dataset in self.datasets
                for model, init in self.finetuned_pairs(dataset) for seed in self.seeds]

    # --- hyperparameter search (Palés Huix et al.'s lr; Piater et al.'s lr x weight decay) ------
    @property
    def search(self) -> dict:
        return self.config["search"]

    @property
    def search_on(self) -> bool:
        return bool(self.search["grid"])

    @cached_property
    def search_points(self) -> dict[str, dict]:
        """Point name (``lr0.001_weight_decay0``, a path segment) -> its values, in grid order."""
        grid = self.search["grid"]
        points = [{}]
        for key in (k for k in ("lr", "weight_decay") if k in grid):
            points = [dict(point, **{key: value}) for point in points for value in grid[key]]
        return {"_".join(f"{key}{value:g}" for key, value in point.items()): point for point in points} if grid else {}

    def searched(self, model: str) -> bool:
        return self.search_on and (not self.search["models"] or model in self.search["models"])

    def search_choices(self) -> list[tuple[str, str, str]]:
        """(dataset, model, init) of every search: each fine-tuned pair of a searched model."""
        return [(dataset, model, init) for dataset in self.datasets
                for model, init in self.finetuned_pairs(dataset) if self.searched(model)]

    def search_runs(self) -> list[tuple[str, str, str, str, int]]:
        """(dataset, model, init, point, seed) of every search run."""
        return [(dataset, model, init, point, seed) for dataset, model, init in self.search_choices()
                for point in self.search_points for seed in self.search["seeds"]]

    def search_choice(self, dataset: str, model: str, init: str) -> list[str]:
        """The choice file a fine-tuning run reads (as a job input): [] unless its model is
        searched and ``search.apply``."""
        if not (self.search["apply"] and self.searched(model)):
            return []
        return [f"{self.results}/search/{dataset}/{model}/{init}/choice.json"]

    def source_pretrained_models(self) -> list[str]:
        """Models whose synthetic ImageNet weights the study trains (``imagenet.source: synthetic``)."""
        if self.config["imagenet"]["source"] != "synthetic":
            return []
        users = [model for dataset in self.datasets for model, init in self.finetuned_pairs(dataset)
                 if init in ("imagenet", "dino")]
        if self.segmentation_init == "imagenet":
            users += self.segmentation_models
        return list(dict.fromkeys(self.base_model.get(model, model) for model in users))

    # --- segmentation (the ViT paper's Table 2, Figure 2) ---------------------------------
    @property
    def segmentation(self) -> dict:
        return self.config.get("segmentation", {})

    @property
    def segmentation_datasets(self) -> list[str]:
        return list(self.segmentation.get("datasets", {}))

    @property
    def segmentation_models(self) -> list[str]:
        return list(self.segmentation.get("models", []))

    @property
    def segmentation_on(self) -> bool:
        return bool(self.segmentation_datasets and self.segmentation_models)

    @property
    def segmentation_init(self) -> str:
        return self.segmentation.get("init", "imagenet")

    @property
    def segmentation_settings(self) -> dict:
        """The study's fine-tuning settings with segmentation's own (``segmentation.finetune``)."""
        return {**self.finetune_settings, **SEGMENTATION_FINETUNE, **self.segmentation.get("finetune", {})}

    def segment_runs(self) -> list[tuple[str, str, int]]:
        """(dataset, model, seed) of every segmentation run."""
        if not self.segmentation_on:
            return []
        return [(dataset, model, seed) for dataset in self.segmentation_datasets
                for model in self.segmentation_models for seed in self.seeds]

    @cached_property
    def figure2_models(self) -> dict[str, str]:
        """Figure 2's encoders: the first CNN and the first ViT of ``segmentation.models``."""
        first = {}
        for model in self.segmentation_models:
            first.setdefault(self.family(model), model)
        return first if self.segmentation_on and len(first) == 2 else {}

    def image_size_of(self, dataset: str) -> int:
        """The side ``prepare`` stores a dataset's images at."""
        if dataset in self.segmentation_datasets:
            return self.segmentation["datasets"][dataset]["image_size"] or self.segmentation["image_size"]
        return self.config["image_size"]

    # --- what the study reports ------------------------------------------------------------
    @cached_property
    def result_tables(self) -> dict[str, str]:
        """Rule ``tables``' tables -> their report category."""
        return {"table1": "Table 1", **({"table2": "Table 2"} if self.segmentation_on else {}), "table3": "Table 3",
                **({"linear_probe": "Linear probe"} if self.linear_on else {}),
                **({"ood": "Out-of-distribution"} if self.ood_tests else {})}

    def table_title(self, name: str) -> str:
        """The heading of a result table of rule ``tables``."""
        over = f"median ± std over {self.repetition_unit}"
        titles = {"table1": f"Table 1: fine-tuning, {over}",
                  # segmentation stores keep their split: their repetitions are seeds
                  "table2": "Table 2: segmentation with DeepLabV3, CNN vs ViT encoders, IoU, median ± std over seeds",
                  "table3": f"Table 3: k-NN evaluation of the initialized encoders, {over}",
                  "linear_probe": f"Linear probe of the initialized (frozen) encoders, {over}",
                  "ood": "Out-of-distribution tests of the fine-tuned models ("
                         + ", ".join(f"{trained} → {test}" for trained, test in self.ood_tests.items())
                         + f"), {over}"}
        return f"{titles[name]} ({self.name})"

    @cached_property
    def artefacts(self) -> list[Artefact]:
        """Every table and figure this study writes, in the papers' order."""
        items = [_table(name, "tables", category) for name, category in self.result_tables.items()]
        items.append(_table("welch", "welch", "CNN vs ViT statistics", ("csv", "md")))
        items.append(_table("claims", "claims", "Claims check", ("csv", "md")))
        if self.config["published_comparison"]:
            items.append(_table("published_comparison", "published_comparison", "Comparison with the paper",
                                ("csv", "md")))
        if self.figure2_models:
            items.append(_figure("figure2", "figure2", "Figure 2"))
        items += [_figure("figure1", "figure1", "Figure 1"), _figure("cka", "figure_cka", "CKA"),
                  _figure("cka_models", "figure_cka", "CKA")]
        if self.attention_models:
            items.append(_figure("figure5", "figure5", "Figure 5"))
        if self.saliency_on:
            items.append(_figure("figure4", "figure4", "Figure 4"))
        if self.capacity_on:
            items += [_table("table4", "capacity", "Table 4"), _figure("figure3", "capacity", "Figure 3")]
        if self.patch_sizes:
            items.append(_table("table5", "patch_size", "Table 5"))
        if self.self_attention:
            items.append(_table("self_attention", "self_attention", "Self-attention"))
        if self.search_on:
            items.append(_table("search", "search", "Hyperparameter search", ("csv", "md")))
        if any(self.freezing_depths().values()):
            items += [_table("freezing", "freezing", "Freezing"), _figure("freezing", "freezing", "Freezing")]
        if self.scenario_variants():
            items.append(_table("scenarios", "scenarios", "Foundation scenarios"))
        if self.resolution:
            items.append(_table("resolution", "resolution", "Foundation scenarios", ("csv", "md")))
        if self.times_baseline:
            items += [_table("times", "times", "Foundation scenarios", ("csv", "md")),
                      _figure("times", "times", "Foundation scenarios")]
        if self.decapitations():
            items += [_table("decapitation", "decapitation", "Foundation scenarios"),
                      _figure("decapitation", "decapitation", "Foundation scenarios")]
        if self.feature_usage_on:  # Piater et al.'s Table 3
            items.append(_table("feature_usage", "feature_usage_table", "Self-attention"))
        if self.attention_maps_on:  # Piater et al.'s Table 4, a figure per dataset
            items += [Artefact(f"attention_maps_{dataset}", "figure_attention_maps",
                               (f"figures/attention_maps_{dataset}.png", f"figures/attention_maps_{dataset}.pdf"),
                               "Self-attention", "attention_maps") for dataset in self.ablation_datasets]
        return items

    def artefacts_of(self, rule: str) -> list[Artefact]:
        """The tables and figures one rule writes."""
        return [artefact for artefact in self.artefacts if artefact.rule == rule]

    def final_outputs(self) -> list[str]:
        """Every file of every table and figure: the targets of ``rule all``."""
        return [path for artefact in self.artefacts for path in artefact.paths(self.results)]

    def _check_feature_usage(self) -> None:
        if not self.feature_usage_on:
            return
        usage, key = self.feature_usage, "analysis.feature_usage"
        if not self.self_attention:
            raise ValueError(f"{key}: needs ablations.self_attention (its rows are those models)")
        if usage["dataset"] not in self.ablation_datasets:
            raise ValueError(f"{key}.dataset: {usage['dataset']!r} is not one of ablations.datasets "
                             f"{self.ablation_datasets}")
        masks = usage["lesion_masks"]
        if masks["dataset"] not in self.segmentation_datasets:
            raise ValueError(f"{key}.lesion_masks.dataset: {masks['dataset']!r} is not one of segmentation.datasets "
                             f"{self.segmentation_datasets}")
        if masks["model"] not in self.segmentation_models:
            raise ValueError(f"{key}.lesion_masks.model: {masks['model']!r} is not one of segmentation.models "
                             f"{self.segmentation_models}")

    def _check_segmentation(self) -> None:
        seg = self.segmentation
        for name in self.segmentation_models:
            if name not in self.model_configs:
                raise ValueError(f"segmentation.models: {name!r} is not one of {list(self.model_configs)} "
                                 "(models and ablations.models)")
            if self.model_configs[name].get("freeze_blocks", 0) or self.model_configs[name].get("frozen", False):
                raise ValueError(f"segmentation.models: {name!r} freezes blocks; DeepLabV3 trains its whole encoder")
        taken = set(self.datasets) | set(self.test_datasets) | {SOURCE}
        for name, cfg in seg.get("datasets", {}).items():
            if name in taken:
                raise ValueError(f"segmentation.datasets: {name!r} is also a classification or test dataset "
                                 "name; a segmentation dataset needs its own")
            if cfg["source"] != "synthetic" and cfg["split"].get("test", 0) > 0:
                raise ValueError(f"segmentation.datasets.{name}.split: test is the publisher's held-out set "
                                 f"for {cfg['source']}; set train and val only")
            total = sum(cfg["split"].values())
            if abs(total - 1) > 1e-6:
                raise ValueError(f"segmentation.datasets.{name}.split: ratios sum to {total:g}, not 1")
            if self.image_size_of(name) < seg.get("input_size", 512):
                raise ValueError(f"segmentation.datasets.{name}: image_size {self.image_size_of(name)} is smaller "
                                 f"than segmentation.input_size {seg['input_size']}")
        for key in seg.get("finetune", {}):
            if key not in self.config["finetune"] or key == "overrides":
                raise ValueError(f"segmentation.finetune.{key}: not a key of finetune "
                                 f"({sorted(k for k in self.config['finetune'] if k != 'overrides')})")

    # --- checks ----------------------------------------------------------------------------
    def check(self) -> None:
        """Cross-field checks the schema cannot express; each error names its config key."""
        models, datasets = self.model_configs, self.datasets
        for key, names, allowed in (("ablations.capacity.cnn", self.capacity["cnn"], models),
                                    ("ablations.capacity.vit", self.capacity["vit"], models),
                                    ("ablations.patch_size", self.patch_sizes.values(), models),
                                    ("ablations.self_attention", self.self_attention_models, models),
                                    ("ablations.freezing", self.freezing_models, models),
                                    ("ablations.appended", self._with_variants(self.appended), models),
                                    ("ablations.resolution", self._with_variants(self.resolution), models),
                                    ("ablations.datasets", self.ablation_datasets, datasets)):
            for name in names:
                if name not in allowed:
                    raise ValueError(f"{key}: {name!r} is not one of {list(allowed)} (models and ablations.models)"
                                     if allowed is models else f"{key}: {name!r} is not one of the study's {datasets}")
        for family in ("cnn", "vit"):
            for name in self.capacity[family]:
                if self.family(name) != family:
                    raise ValueError(f"ablations.capacity.{family}: {name!r} is a {self.family(name)}")
        for base, variants in self.self_attention.items():
            for name in [base, *variants]:
                if self.family(name) != "cnn":
                    raise ValueError(f"ablations.self_attention: {name!r} is a {self.family(name)}, not a CNN")
            for name in variants:
                attention = models[name]["self_attention"]
                if not attention["global_after"] and "local" not in attention:
                    raise ValueError(f"ablations.self_attention.{base}: {name!r} has no self_attention "
                                     "(global_after or local)")
        for dataset, entries in self.config["finetune"]["overrides"].items():
            if dataset not in datasets:
                raise ValueError(f"finetune.overrides: {dataset!r} is not one of the study's datasets {datasets}")
            for name in entries:
                if name not in models:
                    raise ValueError(f"finetune.overrides.{dataset}: {name!r} is not one of {list(models)} "
                                     "(models and ablations.models)")
        self._check_feature_usage()
        for name in self.search["models"]:
            if name not in models:
                raise ValueError(f"search.models: {name!r} is not one of {list(models)} (models and ablations.models)")
        if self.search_on and self.search["apply"]:
            for dataset, entries in self.config["finetune"]["overrides"].items():
                for name, entry in entries.items():
                    both = sorted(set(entry) & set(self.search["grid"]))
                    if self.searched(name) and both:
                        raise ValueError(f"finetune.overrides.{dataset}.{name}: {', '.join(both)} also searched "
                                         "(search.grid) and search.apply is true: drop one, or set search.apply "
                                         "false to compare the search with the fixed values")
        for base, variants in self.appended.items():
            for name in variants:
                cfg = models[name]
                if not cfg.get("appended") or cfg["timm_name"] != models[base]["timm_name"]:
                    raise ValueError(f"ablations.appended.{base}: {name!r} must be {base}'s timm model "
                                     f"({models[base]['timm_name']}) with appended: {{timm_name: ...}}")
        for base, variants in self.resolution.items():
            for name in variants:
                if not models[name].get("input_size") or models[name]["timm_name"] != models[base]["timm_name"]:
                    raise ValueError(f"ablations.resolution.{base}: {name!r} must be {base}'s timm model "
                                     f"({models[base]['timm_name']}) with its own input_size")
        for name, cfg in models.items():
            if cfg.get("input_size") and (name in self.config["models"] or name not in self.ablation_models):
                raise ValueError(f"models.{name}.input_size: only a variant in ablations.resolution has its own "
                                 "input size (the study's models share input_size)")
            if cfg.get("input_size") and self.repetitions == "splits":
                raise ValueError(f"models.{name}.input_size: not with repetitions: 'splits' (one store per size "
                                 "is re-split by seed: not supported)")
            if cfg.get("decapitate") and not cfg.get("appended"):
                raise ValueError(f"models.{name}.decapitate: only a foundation with an appended classifier "
                                 "(appended) is decapitated")
        for base, variants in self.freezing.items():
            for name in variants:
                frozen, blocks = models[name].get("frozen", False), models[name].get("freeze_blocks", 0)
                if (blocks >= 1) == frozen or models[name]["timm_name"] != models[base]["timm_name"]:  # one of them
                    raise ValueError(f"ablations.freezing.{base}: {name!r} must be {base}'s timm model "
                                     f"({models[base]['timm_name']}) with freeze_blocks >= 1 or frozen: true")
        seen = {}
        for name, (base, protocol) in self.protocol_variants().items():  # one cell of a base per protocol
            if (base, protocol) in seen:
                raise ValueError(f"ablations: {seen[(base, protocol)]!r} and {name!r} are both {base}'s {protocol} "
                                 "variant; the scenarios, claims and published comparison take one per protocol")
            seen[(base, protocol)] = name
        if self.repetitions == "splits" and "dino" in self.inits:
            raise ValueError("repetitions: 'splits' with inits: dino: DINO pretrains on a dataset's training "
                             "images, so each data split would need its own DINO run; use repetitions: seeds")
        if self.ablation_models and self.ablation_init not in PRETRAINED_INITS:
            raise ValueError(f"ablations.init: {self.ablation_init!r} must be random, imagenet or pretrained "
                             "(DINO pretraining runs for the study's own models only)")
        for name, test in self.ood_tests.items():
            if test not in self.test_datasets:
                raise ValueError(f"datasets.{name}.ood_test: {test!r} is not one of test_datasets "
                                 f"{list(self.test_datasets)}")
        for name in self.test_datasets:
            if name in datasets or name == SOURCE:
                raise ValueError(f"test_datasets: {name!r} is also a dataset name; a test set needs its own")
        # the init is the schema's default unless set: it matters only once Figure 4 names its models
        for key, allowed in (("cnn", self.models), ("vit", self.models), ("init", self.inits)):
            if key in self.saliency and self.saliency[key] not in allowed and (key != "init" or self.saliency_on):
                raise ValueError(f"analysis.saliency.{key}: {self.saliency[key]!r} is not one of the study's {allowed}")
        for key, group in (("datasets", self.config["datasets"]), ("test_datasets", self.test_datasets)):
            for name, cfg in group.items():
                task = dataset_task(cfg)
                scored = METRIC_TASKS[cfg["metric"]]
                if task is not None and task not in scored:
                    raise ValueError(f"{key}.{name}.metric: {cfg['metric']!r} scores {' or '.join(scored)} tasks, "
                                     f"but {name} ({cfg['source']}) is {task}")
        if self.config["image_size"] < self.config["input_size"]:
            raise ValueError(f"image_size: {self.config['image_size']} is smaller than input_size "
                             f"{self.config['input_size']}: every crop would be upscaled (prepare stores image_size)")
        self._check_segmentation()
        if self.times_baseline is not None and self.times_baseline not in self.models:
            raise ValueError(f"analysis.times_baseline: {self.times_baseline!r} is not one of the study's models "
                             f"{self.models}")
        if self.times_baseline is not None and self.ablation_init not in self.inits:
            raise ValueError(f"analysis.times_baseline: the times compare runs from ablations.init "
                             f"({self.ablation_init!r}), which is not one of the study's inits {self.inits}")
        vits = [m for m in self.models if self.config["models"][m]["family"] == "vit"]
        for name in self.attention_models:
            if name not in vits:
                raise ValueError(f"analysis.attention_models: {name!r} is not one of the study's ViTs {vits}")
