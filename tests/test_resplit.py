"""Repetitions over data splits: each repetition's split of one store, the pixels stored once."""
import json

import numpy as np
import pandas as pd
import pytest

from vitmed.data.dataset import StoreDataset
from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.resplit import resplit_store
from vitmed.data.store import build_store, load_split
from vitmed.data.synthetic import generate

RATIOS = {"train": 0.6, "val": 0.2, "test": 0.2}


def store(tmp_path, generator="skin_lesions", n=200, fixed=None):
    data = generate(generator, n, 24, seed=3)
    write_plain_layout(data, tmp_path / "raw")
    raw = read_plain_layout(tmp_path / "raw")
    build_store(raw, tmp_path / "store", image_size=16, ratios=RATIOS, seed=0, metric="macro_recall",
                fixed_splits=fixed)
    return tmp_path / "store"


def test_each_seed_draws_its_own_grouped_stratified_split_over_the_same_pixels(tmp_path):
    base = store(tmp_path)
    metas = {seed: resplit_store(base, base / f"split{seed}", seed=seed, ratios=RATIOS) for seed in (0, 1, 2)}
    # the store's own seed redraws the store's split exactly; other seeds draw other splits
    assert metas[0]["split_hash"] == json.loads((base / "meta.json").read_text())["split_hash"]
    assert len({meta["split_hash"] for meta in metas.values()}) == 3
    index = pd.read_parquet(base / "index.parquet")
    for seed, meta in metas.items():
        assert meta["repetition"] == "split" and meta["split_seed"] == seed and meta["store"] == ".."
        split = pd.read_parquet(base / f"split{seed}" / "index.parquet")
        # same rows and labels, only the split column differs; no lesion in two splits
        pd.testing.assert_frame_equal(split.drop(columns="split"), index.drop(columns="split"))
        assert (split.groupby("group_id")["split"].nunique() == 1).all()
        assert meta["split_sizes"] == split["split"].value_counts().to_dict()
        assert not (base / f"split{seed}" / "images.npy").exists()  # no second copy of the pixels
        counts = pd.read_csv(base / f"split{seed}" / "splits.csv", index_col="class")
        assert counts.to_numpy().sum() == 200
    # a repetition's loader reads the store's pixels through the split's index
    test = StoreDataset(base / "split1", "test")
    split1 = pd.read_parquet(base / "split1" / "index.parquet")
    rows = split1[split1["split"] == "test"]
    pixels = np.load(base / "images.npy")
    image, label = test[3]
    np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), pixels[rows["store_row"].iloc[3]])
    assert label.item() == rows["label"].iloc[3]
    _, labels, _ = load_split(base / "split1", "train")
    assert len(labels) == metas[1]["split_sizes"]["train"]


def test_multilabel_strata_spread_rare_findings_over_every_split(tmp_path):
    base = store(tmp_path, "chest_findings", n=300)
    resplit_store(base, base / "split4", seed=4, ratios=RATIOS)
    split = pd.read_parquet(base / "split4" / "index.parquet")
    meta = json.loads((base / "meta.json").read_text())
    positives = split[meta["label_columns"]].eq(1).groupby(split["split"]).sum()
    rarest = split[meta["label_columns"]].eq(1).sum().idxmin()
    assert (positives[rarest] > 0).all(), positives[rarest]


def test_a_publisher_test_set_stays_and_only_its_training_rows_are_redrawn(tmp_path):
    fixed = pd.Series(["test"] * 50 + ["trainval"] * 150)
    base = store(tmp_path, fixed=fixed)
    assert json.loads((base / "meta.json").read_text())["publisher_test"] is True
    index = pd.read_parquet(base / "index.parquet")
    splits = {}
    for seed in (1, 2):
        resplit_store(base, base / f"split{seed}", seed=seed, ratios=RATIOS)
        splits[seed] = pd.read_parquet(base / f"split{seed}" / "index.parquet")["split"]
        assert (splits[seed][index["split"] == "test"] == "test").all()
        assert set(splits[seed][index["split"] != "test"]) == {"train", "val"}
    assert not splits[1].equals(splits[2])


def test_a_segmentation_store_or_a_split_is_not_resplit(tmp_path):
    base = store(tmp_path)
    resplit_store(base, base / "split1", seed=1, ratios=RATIOS)
    with pytest.raises(ValueError, match=r"split1: already a split of \.\."):
        resplit_store(base / "split1", tmp_path / "again", seed=2, ratios=RATIOS)
    data = generate("lesion_masks", 20, 24, seed=0)
    write_plain_layout(data, tmp_path / "seg_raw")
    build_store(read_plain_layout(tmp_path / "seg_raw"), tmp_path / "seg", image_size=16,
                ratios={"train": 0.8, "val": 0.2, "test": 0.0}, seed=0, metric="iou")
    with pytest.raises(ValueError, match="a segmentation store keeps its split"):
        resplit_store(tmp_path / "seg", tmp_path / "seg" / "split1", seed=1, ratios=RATIOS)


def test_split_repetitions_in_the_study_and_the_dag(tmp_path):
    import copy

    from helpers import SYNTHETIC, job_counts, load_preset, run_snakemake
    from test_study import study_of

    config = load_preset(*SYNTHETIC)
    config.update(repetitions="splits", inits=["random", "imagenet"])
    config["ablations"]["resolution"] = {}  # a store per input size is not re-split (a config error)
    del config["ablations"]["models"]["ViT-toy-64"]
    study = study_of(config)
    assert study.data_dir("SynSkin", 1) == "results/synthetic/data/SynSkin/split1"
    assert study.data_dir("SynSkin") == "results/synthetic/data/SynSkin"  # the store the splits index
    # test sets and segmentation stores keep their one split
    assert study.data_dir("SynPatch-OtherSite", 1) == "results/synthetic/data/SynPatch-OtherSite"
    assert study.data_dir("SynLesionSeg", 1) == "results/synthetic/data/SynLesionSeg"
    assert study.table_title("table1") == "Table 1: fine-tuning, median ± std over data splits (synthetic)"
    assert "over seeds" in study_of(load_preset(*SYNTHETIC)).table_title("table1")
    result = run_snakemake(tmp_path, config, "-n")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts["resplit"] == 5 * 2 and counts["prepare"] == 5 + 2 + 1 + 1  # targets, segmentation, OOD, source
    with_dino = copy.deepcopy(config)
    with_dino["inits"] = ["random", "dino"]
    with pytest.raises(ValueError, match="repetitions: 'splits' with inits: dino"):
        study_of(with_dino)
