# download -> prepare: raw data in the publisher's layout -> standardized store + split.


rule generate_synthetic:
    """Write a synthetic dataset in the plain raw layout (labels.csv + images/*.png)."""
    output:
        labels=f"{RESULTS}/raw/{{dataset}}/labels.csv",
        classes=f"{RESULTS}/raw/{{dataset}}/classes.json",
        images=directory(f"{RESULTS}/raw/{{dataset}}/images"),
    log:
        f"{LOGS}/generate_synthetic/{{dataset}}.log",
    conda:
        "../../envs/vitmed.yaml"
    params:
        cfg=lambda wc: STUDY.dataset_config(wc.dataset),
        # each dataset draws from its own stream; the seed depends on the name only
        seed=lambda wc: int.from_bytes(wc.dataset.encode(), "little") % (2**31),
    script:
        "../../scripts/generate_synthetic.py"


rule fetch_raw:
    """Download a real dataset into downloads_dir (shared by studies; resumable, verified), or
    take its configured raw_dir, and record where its raw folder is. Local: needs internet."""
    output:
        f"{RESULTS}/raw/{{dataset}}/source.json",
    log:
        f"{LOGS}/fetch_raw/{{dataset}}.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        cfg=lambda wc: STUDY.dataset_config(wc.dataset),
        downloads=config["downloads_dir"],
    script:
        "../../scripts/fetch_raw.py"


rule prepare:
    """Resize every image once into images.npy; write index.parquet, meta.json, splits.csv."""
    input:
        raw_input,
    output:
        images=f"{RESULTS}/data/{{dataset}}/images.npy",
        index=f"{RESULTS}/data/{{dataset}}/index.parquet",
        meta=f"{RESULTS}/data/{{dataset}}/meta.json",
        splits=f"{RESULTS}/data/{{dataset}}/splits.csv",
    log:
        f"{LOGS}/prepare/{{dataset}}.log",
    benchmark:
        f"{BENCH}/prepare/{{dataset}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    params:
        cfg=lambda wc: STUDY.dataset_config(wc.dataset),
        image_size=lambda wc: STUDY.image_size_of(wc.dataset),
        split_seed=config["split_seed"],
    script:
        "../../scripts/prepare.py"


rule prepare_resized:
    """A dataset stored again at {size} px for the models with their own input size (ablations.resolution):
    the same split (drawn from the manifest with the same seed)."""
    input:
        raw_input,
    output:
        images=f"{RESULTS}/data/{{dataset}}/px{{size}}/images.npy",
        index=f"{RESULTS}/data/{{dataset}}/px{{size}}/index.parquet",
        meta=f"{RESULTS}/data/{{dataset}}/px{{size}}/meta.json",
        splits=f"{RESULTS}/data/{{dataset}}/px{{size}}/splits.csv",
    log:
        f"{LOGS}/prepare/{{dataset}}/px{{size}}.log",
    benchmark:
        f"{BENCH}/prepare/{{dataset}}/px{{size}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    params:
        cfg=lambda wc: STUDY.dataset_config(wc.dataset),
        image_size=lambda wc: int(wc.size),
        split_seed=config["split_seed"],
    script:
        "../../scripts/prepare.py"


rule resplit:
    """repetitions: splits — the split of repetition {seed}: a new index over the store's pixels."""
    input:
        meta=f"{RESULTS}/data/{{dataset}}/meta.json",
        index=f"{RESULTS}/data/{{dataset}}/index.parquet",
    output:
        index=f"{RESULTS}/data/{{dataset}}/split{{seed}}/index.parquet",
        meta=f"{RESULTS}/data/{{dataset}}/split{{seed}}/meta.json",
        splits=f"{RESULTS}/data/{{dataset}}/split{{seed}}/splits.csv",
    log:
        f"{LOGS}/resplit/{{dataset}}/split{{seed}}.log",
    conda:
        "../../envs/vitmed.yaml"
    params:
        ratios=lambda wc: STUDY.dataset_config(wc.dataset)["split"],
    script:
        "../../scripts/resplit.py"
