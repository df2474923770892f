"""Piater et al.'s Table 4: GA attention maps, Grad-CAM and the ViT's attention, per class and mean."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vitmed.analysis.attention_maps import (
    attention_map_arrays,
    example_rows,
    global_attention_maps,
    model_maps,
    normalized,
)
from vitmed.data.augment import BatchEval
from vitmed.data.dataset import StoreDataset
from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.store import build_store
from vitmed.data.synthetic import generate
from vitmed.models.factory import build_model

TOY = {"pretrained_cfg_overlay": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}
GA = {"timm_name": "test_resnet", "family": "cnn", "kwargs": TOY,
      "self_attention": {"global_after": ["layer1", "layer2"]}}
VIT = {"timm_name": "test_vit", "family": "vit",
       "kwargs": {**TOY, "img_size": 32, "patch_size": 8, "dynamic_img_size": True}}


def test_each_map_is_scaled_to_0_1_on_its_own():
    maps = np.stack([np.arange(4.0).reshape(2, 2), np.full((2, 2), 7.0), -np.eye(2)])
    scaled = normalized(maps)
    np.testing.assert_allclose(scaled[0], [[0, 1 / 3], [2 / 3, 1]])
    np.testing.assert_array_equal(scaled[1], 0)  # constant: nothing stands out
    np.testing.assert_array_equal(scaled[2], [[0, 1], [1, 0]])


def test_ga_map_is_the_blocks_attention_averaged_over_queries():
    torch.manual_seed(0)
    model = build_model(GA, 3).eval()
    images = torch.randn(2, 3, 32, 32)
    stage_outputs = {}
    for name in ("layer1", "layer2"):
        model.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: stage_outputs.__setitem__(name, out))
    maps = global_attention_maps(model, images)
    assert list(maps) == ["GA after layer1", "GA after layer2"]
    for name in ("layer1", "layer2"):
        x = stage_outputs[name]
        weights = model.global_attention[name].attention(x)  # (B, HW, HW), rows = queries
        attended = weights.mean(dim=1).view(2, 1, *x.shape[-2:])  # how much each position is attended to
        assert torch.allclose(attended.sum(dim=(1, 2, 3)), torch.ones(2))
        expected = F.interpolate(attended, size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
        np.testing.assert_allclose(maps[f"GA after {name}"], expected.detach().numpy(), rtol=1e-5, atol=1e-7)
        assert maps[f"GA after {name}"].std() > 0
    assert global_attention_maps(build_model({"timm_name": "test_resnet", "family": "cnn"}, 3), images) == {}


def test_examples_are_the_first_test_image_of_each_class():
    assert example_rows(np.array([2, 0, 0, 2, 1]), 3) == [1, 4, 0]
    assert example_rows(np.array([1, 1, 0]), 3) == [2, 0]  # class 2 absent: no example
    with pytest.raises(ValueError, match="single-label tasks only"):
        example_rows(np.zeros((4, 3)), 3)


@pytest.fixture(scope="module")
def patch_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("patch")
    write_plain_layout(generate("lymph_patches", 120, 36, seed=0), root / "raw")
    build_store(read_plain_layout(root / "raw"), root / "store", image_size=36,
                ratios={"train": 0.5, "val": 0.1, "test": 0.4}, seed=0, metric="macro_recall")
    return root / "store"


def test_table_4_arrays_hold_every_models_maps_per_class_and_their_mean(patch_store):
    torch.manual_seed(0)
    models = {"CNN-GA": ("cnn", build_model(GA, 2).eval()), "ViT": ("vit", build_model(VIT, 2).eval())}
    arrays = attention_map_arrays(patch_store, models, ["normal", "tumour"], n_mean=20, input_size=32,
                                  eval_crop="center", cnn_stage=-3, batch_size=8)
    assert list(arrays["map_names"]) == ["CNN-GA: Grad-CAM", "CNN-GA: GA after layer1", "CNN-GA: GA after layer2",
                                         "ViT: CLS attention"]
    assert arrays["maps"].shape == (4, 3, 32, 32) and arrays["maps"].dtype == np.uint8
    assert arrays["images"].shape == (2, 32, 32, 3) and list(arrays["labels"]) == [0, 1]
    assert int(arrays["n_mean"]) == 20
    # the mean column: per-image normalized maps of the first 20 test images, averaged, normalized, 0-255
    test = StoreDataset(patch_store, "test")
    images, _ = test[list(range(20))]
    ga = model_maps(models["CNN-GA"][1], "cnn", BatchEval(32, "center")(images), -3)["GA after layer2"]
    expected = np.round(normalized(ga.mean(axis=0)[None])[0] * 255)
    np.testing.assert_allclose(arrays["maps"][2, -1], expected, atol=1)
    # the examples: the first test image of each class, each map spanning 0-255
    first_tumour = int(np.flatnonzero(test.labels == 1)[0])
    vit = model_maps(models["ViT"][1], "vit", BatchEval(32, "center")(test[[first_tumour]][0]), -3)["CLS attention"]
    np.testing.assert_allclose(arrays["maps"][3, 1], np.round(vit[0] * 255), atol=1)
    assert (arrays["maps"][:, :2].max(axis=(2, 3)) == 255).all() and (arrays["maps"][:, :2].min(axis=(2, 3)) == 0).all()
