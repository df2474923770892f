"""Palés Huix et al.'s Table 3: a model at its own, higher input size, on the dataset stored for it."""
import copy

import pytest
import torch
from helpers import SYNTHETIC, load_preset
from test_ablations import runs
from test_study import study_of

from vitmed.models.factory import build_model, create_model
from vitmed.report.ablations import resolution_markdown, resolution_table

TOY = {"pretrained_cfg_overlay": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}


def test_the_table_sets_each_high_resolution_variant_beside_its_base():
    """DS8 stands for DS at twice the size: medians 0.85 against 0.83 on both datasets."""
    table = resolution_table(runs(), {"DS": ["DS8"]}, {"DS8": 448}, "imagenet", ["A", "B"])
    assert list(table["dataset"]) == ["A", "B"] and set(table["base"]) == {"DS"} and set(table["input_size"]) == {448}
    assert table["gain"].tolist() == pytest.approx([0.02, 0.02])
    markdown = resolution_markdown(table, {"A": "roc_auc", "B": "roc_auc"}, 224, "imagenet", "s")
    assert "| DS | 448 px | 0.850 ± 0.015 (+0.020) | 0.850 ± 0.015 (+0.020) |" in markdown
    assert "in brackets the gain over 224 px (s)" in markdown
    with pytest.raises(ValueError, match=r"resolution: no imagenet fine-tuning of \[\['DS8', 'C'\]\] or of its base"):
        resolution_table(runs(), {"DS": ["DS8"]}, {"DS8": 448}, "imagenet", ["A", "C"])


def test_a_vit_at_its_own_size_resamples_its_position_embedding_from_its_weights(tmp_path):
    torch.manual_seed(0)
    small = create_model("test_vit", 0, None, {**TOY, "img_size": 32, "patch_size": 8})
    torch.save(small.state_dict(), tmp_path / "weights.pt")
    config = {"timm_name": "test_vit", "family": "vit", "kwargs": {**TOY, "img_size": 32, "patch_size": 8},
              "input_size": 64}
    model = build_model(config, 3, str(tmp_path / "weights.pt"))
    assert model.patch_embed.grid_size == (8, 8) and model.pos_embed.shape[1] == 1 + 64  # CLS + 8 x 8 patches
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)
    torch.testing.assert_close(model.blocks[0].attn.qkv.weight, small.blocks[0].attn.qkv.weight)
    torch.testing.assert_close(model.pos_embed[:, 0], small.pos_embed[:, 0])  # the CLS position kept


def test_the_study_stores_each_dataset_again_at_the_variants_size():
    config = load_preset(*SYNTHETIC)
    study = study_of(config)
    assert study.store_size_of("ViT-toy-64") == 72 and study.store_size_of("ViT-toy") is None  # 64 x 36 / 32
    assert study.input_size_of("ViT-toy-64") == 64 and study.input_size_of("ViT-toy") == 32
    assert study.data_dir("SynPatch", 0, "ViT-toy-64") == "results/synthetic/data/SynPatch/px72"
    assert study.data_dir("SynPatch", 0, "ViT-toy") == "results/synthetic/data/SynPatch"
    assert study.protocol_variants()["ViT-toy-64"] == ("ViT-toy", "finetune_64")
    for edit, expected in [
        (lambda c: c["models"]["ViT-toy"].update(input_size=64), "models.ViT-toy.input_size: only a variant in"),
        (lambda c: c.update(repetitions="splits", inits=["random", "imagenet"]), "not with repetitions: 'splits'"),
        (lambda c: c["ablations"]["models"]["ViT-toy-64"].pop("input_size"),
         "ablations.resolution.ViT-toy: 'ViT-toy-64' must be ViT-toy's timm model"),
    ]:
        broken = copy.deepcopy(config)
        edit(broken)
        with pytest.raises(ValueError, match=expected):
            study_of(broken)
