"""Segmentation (the ViT paper's Table 2): masks in the store, joint augmentation, DeepLabV3 on
timm encoders, IoU, and the resumable training run."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import kill_at_first_checkpoint
from PIL import Image
from torchvision.transforms import v2

from vitmed.data.augment import AugmentParams, SegmentationAugment, elastic_displacement
from vitmed.data.dataset import StoreDataset
from vitmed.data.raw import RawTable, binary_mask, read_plain_layout, write_plain_layout
from vitmed.data.store import build_store
from vitmed.data.synthetic import generate
from vitmed.evaluate.segmentation import SegmentationScores, iou
from vitmed.models.factory import build_model
from vitmed.models.segmentation import build_segmenter
from vitmed.train.segment import segment_run

AUGMENT = {"crop_scale": [0.35, 1.0], "hflip": 0.5, "vflip": 0.5,
           "color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.05, "p": 0.8}}
TOY_VIT = {"timm_name": "test_vit", "family": "vit", "kwargs": {"img_size": 32, "patch_size": 8}}
TOY_CNN = {"timm_name": "test_resnet", "family": "cnn"}


# --- metrics -----------------------------------------------------------------------------
def test_iou_and_dice_against_hand_computed_masks():
    truth = np.zeros((2, 4, 4), np.uint8)
    predicted = np.zeros((2, 4, 4), np.uint8)
    truth[0, :2, :2] = 1          # 4 true pixels
    predicted[0, :2, :3] = 1      # 6 predicted: tp 4, fp 2, fn 0
    truth[1, 0, 0] = 1            # 1 true pixel, missed; one false positive elsewhere
    predicted[1, 3, 3] = 1
    scores = SegmentationScores()
    scores.update(torch.as_tensor(predicted), torch.as_tensor(truth))
    result = scores.result()
    # over all pixels: tp 4, fp 3, fn 1
    assert result["iou"] == pytest.approx(4 / 8)
    assert result["mean_iou"] == pytest.approx((4 / 6 + 0 / 2) / 2)
    assert result["dice"] == pytest.approx((8 / 10 + 0) / 2)
    assert iou(predicted, truth) == pytest.approx(0.5)


def test_empty_predictions_and_masks():
    empty = torch.zeros(1, 3, 3, dtype=torch.uint8)
    full = torch.ones(1, 3, 3, dtype=torch.uint8)
    scores = SegmentationScores()
    scores.update(empty, empty)  # nothing there, nothing predicted: right, per image
    assert scores.result()["mean_iou"] == 1.0 and scores.result()["dice"] == 1.0
    assert np.isnan(scores.result()["iou"])  # no foreground pixel anywhere: undefined, not 1
    scores.update(empty, full)  # all missed
    assert scores.result()["iou"] == 0.0 and scores.result()["mean_iou"] == 0.5
    assert iou(full.numpy(), full.numpy()) == 1.0


# --- joint augmentation ------------------------------------------------------------------
def test_elastic_displacement_is_torchvisions():
    torch.manual_seed(0)
    noise = torch.rand(2, 2, 24, 24) * 2 - 1
    ours = elastic_displacement(noise, alpha=30.0, sigma=3.0)
    kernel = 25  # torchvision's int(8 sigma + 1), odd already
    for i in range(2):
        blurred = v2.functional.gaussian_blur(noise[i:i + 1], [kernel, kernel], [3.0, 3.0])
        expected = (blurred * 30.0 / 24).permute(0, 2, 3, 1)[0]
        torch.testing.assert_close(ours[i], expected, atol=1e-5, rtol=1e-4)


def _identity_params(n: int, size: int, hflip=None, vflip=None) -> AugmentParams:
    ones, zeros = torch.ones(n), torch.zeros(n)
    flags = torch.zeros(n, dtype=torch.bool)
    return AugmentParams(torch.tensor([[0.0, 0.0, size, size]] * n), flags if hflip is None else hflip,
                         flags if vflip is None else vflip, ones, ones, ones, zeros)


def test_elastic_sampling_matches_torchvision_elastic():
    size = 20
    torch.manual_seed(1)
    image = (torch.rand(1, 3, size, size) * 255).round()
    mask = (torch.rand(1, size, size) < 0.3).to(torch.uint8)
    displacement = elastic_displacement(torch.rand(1, 2, size, size) * 2 - 1, alpha=6.0, sigma=1.0)
    augment = SegmentationAugment(size, AUGMENT, {"p": 1.0, "alpha": 6.0, "sigma": 1.0})
    params = _identity_params(1, size)
    params.grid_displacement = displacement
    grid = augment._grid(torch.tensor([[1.0, 0.0, 1.0, 0.0]]), displacement)
    ours = augment._sample_crop(image, grid).view(1, 3, size, size)
    theirs = v2.functional.elastic(image, displacement, interpolation=v2.InterpolationMode.BILINEAR)
    inside = (grid.abs() <= 1 - 1 / size).all(-1)  # torchvision fills outside with 0, we repeat the border
    torch.testing.assert_close(ours[:, :, inside[0]], theirs[:, :, inside[0]], atol=1e-3, rtol=1e-4)
    ours_mask = augment.sample_masks(mask, params)
    theirs_mask = v2.functional.elastic(mask[:, None].float(), displacement,
                                        interpolation=v2.InterpolationMode.NEAREST)[:, 0].long()
    assert torch.equal(ours_mask[inside], theirs_mask[inside])


def _binary_images(n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose mask is their own threshold: a bright shape (255) on black (0)."""
    masks = torch.as_tensor(generate("lesion_masks", n, size, seed=3).labels)
    return (masks * 255).to(torch.uint8)[:, None].expand(n, 3, size, size).contiguous(), masks


def test_flips_move_image_and_mask_together_exactly():
    size, n = 24, 8
    images, masks = _binary_images(n, size)
    augment = SegmentationAugment(size, dict(AUGMENT, color_jitter=dict(AUGMENT["color_jitter"], p=0.0)))
    params = _identity_params(n, size, hflip=torch.arange(n) % 2 == 0, vflip=torch.arange(n) % 3 == 0)
    out = augment.apply(images, params)
    out_masks = augment.sample_masks(masks, params)
    threshold = out.mean(1) > 0  # normalized: black is below 0, white above
    assert torch.equal(threshold.long(), out_masks)
    assert torch.equal(out_masks[0], masks[0].flip(-1).flip(-2).long())  # both flips
    assert torch.equal(out_masks[1], masks[1].long())


def test_crops_and_elastic_keep_mask_and_image_aligned_and_labels_only():
    size, n = 32, 16
    images, masks = _binary_images(n, size)
    augment = SegmentationAugment(size, dict(AUGMENT, color_jitter=dict(AUGMENT["color_jitter"], p=0.0)),
                                  {"p": 1.0, "alpha": 8.0, "sigma": 2.0})
    torch.manual_seed(0)
    out, out_masks = augment(images, masks * 2)  # label values 0 and 2: interpolation would make 1s
    assert out.shape == (n, 3, size, size) and out_masks.dtype == torch.int64
    assert set(out_masks.unique().tolist()) == {0, 2}
    # bilinear image and nearest mask differ only on boundary pixels
    agree = ((out.mean(1) > 0).long() * 2 == out_masks).float().mean()
    assert agree > 0.97
    assert out_masks.sum() > 0


# --- store -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lesion_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("lesions")
    write_plain_layout(generate("lesion_masks", 120, 40, seed=0), root / "raw")
    build_store(read_plain_layout(root / "raw"), root / "store", image_size=32,
                ratios={"train": 0.7, "val": 0.15, "test": 0.15}, seed=0, metric="iou")
    return root


def test_store_masks_are_nearest_resized_and_aligned_with_images(lesion_store):
    meta = json.loads((lesion_store / "store" / "meta.json").read_text())
    assert meta["task"] == "segmentation" and meta["metric"] == "iou" and meta["label_columns"] == []
    masks = np.load(lesion_store / "store" / "masks.npy")
    assert masks.shape == (120, 32, 32) and set(np.unique(masks)) == {0, 1}
    raw = np.asarray(Image.open(lesion_store / "raw" / "masks" / "img000007.png"))
    expected = np.asarray(Image.fromarray(raw).resize((32, 32), Image.Resampling.NEAREST)) // 255
    assert np.array_equal(masks[7], expected)
    test = StoreDataset(lesion_store / "store", "test")
    images, batch_masks = test[[0, 1]]
    rows = test.index["store_row"].to_numpy()[:2]
    assert np.array_equal(batch_masks.numpy(), masks[rows])
    splits = pd.read_csv(lesion_store / "store" / "splits.csv")
    assert set(splits["class"]) == {"background", "lesion"} and splits["pixel_fraction"].between(0, 1).all()


def _raw_with(tmp_path, mask_of):
    """A 3-image plain-layout segmentation table whose second mask is ``mask_of(path)``'s."""
    write_plain_layout(generate("lesion_masks", 3, 16, seed=1), tmp_path / "raw")
    bad = tmp_path / "raw" / "masks" / "img000001.png"
    mask_of(bad)
    return read_plain_layout(tmp_path / "raw"), bad


@pytest.mark.parametrize("corrupt, message", [
    (lambda path: Image.fromarray(np.zeros((12, 16), np.uint8)).save(path), "mask is 16x12, its image"),
    (lambda path: Image.fromarray(np.full((16, 16), 128, np.uint8)).save(path), "mask values [128]"),
    (lambda path: path.unlink(), "mask file not found"),
])
def test_bad_masks_are_errors_naming_the_file_and_leave_no_store(tmp_path, corrupt, message):
    raw, bad = _raw_with(tmp_path, corrupt)
    with pytest.raises((ValueError, OSError)) as error:
        build_store(raw, tmp_path / "store", image_size=16, ratios={"train": 0.6, "val": 0.2, "test": 0.2},
                    seed=0, metric="iou")
    assert message in str(error.value) and "img000001" in str(error.value)
    assert not (tmp_path / "store" / "masks.npy").exists() and not (tmp_path / "store" / "images.npy").exists()


def test_bad_mask_is_skipped_listed_and_counted_when_asked(tmp_path):
    raw, bad = _raw_with(tmp_path, lambda path: Image.fromarray(np.full((16, 16), 7, np.uint8)).save(path))
    meta = build_store(raw, tmp_path / "store", image_size=16, ratios={"train": 0.6, "val": 0.2, "test": 0.2},
                       seed=0, metric="iou", skip_unreadable=True)
    assert meta["n_skipped"] == 1 and "img000001" in meta["skipped"][0]["where"] and meta["n_images"] == 2


def test_training_pool_is_split_90_10_and_the_publishers_test_set_kept(tmp_path):
    write_plain_layout(generate("mass_masks", 60, 16, seed=2), tmp_path / "raw")
    raw = read_plain_layout(tmp_path / "raw")
    official = pd.Series(["trainval"] * 50 + ["test"] * 10)
    meta = build_store(raw, tmp_path / "store", image_size=16, ratios={"train": 0.9, "val": 0.1, "test": 0.0},
                       seed=0, metric="iou", fixed_splits=official)
    index = pd.read_parquet(tmp_path / "store" / "index.parquet")
    assert (index["split"].iloc[50:] == "test").all() and meta["split_sizes"]["test"] == 10
    assert 2 <= meta["split_sizes"]["val"] <= 9  # about a tenth of 50, whole patients
    for _, patient in index.iloc[:50].groupby("group_id"):  # no patient on both sides
        assert patient["split"].nunique() == 1


def test_a_segmentation_table_needs_its_mask_reader():
    frame = pd.DataFrame({"sample_id": ["a"], "group_id": [None], "path": ["a.png"]})
    with pytest.raises(ValueError, match="read_mask"):
        RawTable(frame, [], ["background", "lesion"], "segmentation", 3)


def test_binary_mask_reads_the_documented_values(tmp_path):
    path = tmp_path / "m.png"
    Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8)).save(path)
    assert binary_mask(path).tolist() == [[0, 1], [1, 0]]


# --- models ------------------------------------------------------------------------------
@pytest.mark.parametrize("config, channels, stride", [(TOY_CNN, 96, 8), (TOY_VIT, 64, 8)])
def test_deeplabv3_on_timm_encoders(config, channels, stride):
    model = build_segmenter(config, 2, None, input_size=48).eval()
    features = model.backbone(torch.randn(2, 3, 48, 48))["out"]
    assert features.shape == (2, channels, 48 // stride, 48 // stride)
    assert model(torch.randn(2, 3, 48, 48))["out"].shape == (2, 2, 48, 48)
    assert model(torch.randn(1, 3, 64, 64))["out"].shape == (1, 2, 64, 64)  # any size at evaluation


def test_vit_encoder_loads_classification_weights_with_a_resampled_position_embedding(tmp_path):
    torch.manual_seed(0)
    classifier = build_model(TOY_VIT, 16)  # 32-pixel inputs: a 4 x 4 patch grid
    torch.save(classifier.state_dict(), tmp_path / "w.pt")
    model = build_segmenter(TOY_VIT, 2, str(tmp_path / "w.pt"), input_size=48)  # a 6 x 6 grid
    encoder = model.backbone.encoder
    assert encoder.pos_embed.shape == (1, 1 + 36, 64)
    torch.testing.assert_close(encoder.blocks[0].attn.qkv.weight, classifier.blocks[0].attn.qkv.weight)
    torch.testing.assert_close(encoder.pos_embed[:, 0], classifier.pos_embed[:, 0])  # the CLS position kept


def test_resnet50_encoder_is_torchvisions_deeplabv3_backbone():
    """timm's resnet50 at output stride 8 with torchvision's weights computes what torchvision's
    deeplabv3_resnet50 backbone computes (its ImageNet weights are resnet50.tv_in1k's)."""
    from torchvision.models.segmentation import deeplabv3_resnet50

    reference = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=2, aux_loss=False).eval()
    ours = build_segmenter({"timm_name": "resnet50", "family": "cnn"}, 2, None, input_size=64).eval()
    ours.backbone.encoder.load_state_dict(reference.backbone.state_dict(), strict=False)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.backbone(x)["out"], reference.backbone(x)["out"], atol=1e-4, rtol=1e-4)
    assert ours.classifier.__class__ is reference.classifier.__class__


# --- training ----------------------------------------------------------------------------
def _hp(**overrides) -> dict:
    return {"max_epochs": 3, "batch_size": 16, "eval_batch_size": 32, "lr": {"pretrained": 3e-3, "random": 3e-3},
            "optimizer": "adam", "weight_decay": 1e-5, "warmup_iters": 5, "lr_drop_factor": 10, "min_lr": 1e-5,
            "patience": 5, "num_workers": 0, "augment": AUGMENT, **overrides}


def _segment(store, run_dir, hp):
    torch.set_num_threads(1)
    result = segment_run(TOY_VIT, None, store, run_dir, seed=3, hp=hp, input_size=32,
                         elastic={"p": 0.5, "alpha": 4.0, "sigma": 2.0})
    (run_dir / "result.json").write_text(json.dumps(result))


def test_segment_learns_and_writes_its_log(lesion_store, tmp_path):
    _segment(lesion_store / "store", tmp_path, _hp(max_epochs=6))
    result = json.loads((tmp_path / "result.json").read_text())
    masks = np.load(lesion_store / "store" / "masks.npy")
    assert result["metric"] == "iou" and result["value"] > 2 * masks.mean()  # all-foreground IoU = its share
    log = pd.read_csv(tmp_path / "log.csv")
    assert list(log.columns) == ["epoch", "iterations", "lr", "train_loss", "val_iou", "val_mean_iou", "val_dice",
                                 "seconds"]
    assert (tmp_path / "best.pt").exists() and not (tmp_path / "checkpoint.pt").exists()


def test_killed_segment_resumes_to_identical_metrics(lesion_store, tmp_path):
    store, hp = lesion_store / "store", _hp()
    _segment(store, tmp_path / "straight", hp)
    run_dir = tmp_path / "killed"
    kill_at_first_checkpoint(_segment, (store, run_dir, hp), run_dir)
    assert not (run_dir / "result.json").exists(), "killed too late: the run had finished"
    _segment(store, run_dir, hp)
    assert json.loads((run_dir / "result.json").read_text()) == json.loads(
        (tmp_path / "straight" / "result.json").read_text())


def test_segment_refuses_a_classification_store(tmp_path):
    write_plain_layout(generate("mammo_mass", 40, 16, seed=0), tmp_path / "raw")
    build_store(read_plain_layout(tmp_path / "raw"), tmp_path / "store", image_size=16,
                ratios={"train": 0.6, "val": 0.2, "test": 0.2}, seed=0, metric="roc_auc")
    with pytest.raises(ValueError, match="needs a store with masks"):
        segment_run(TOY_CNN, None, tmp_path / "store", tmp_path / "run", seed=0, hp=_hp(), input_size=16)


def test_segment_runs_with_the_gpu_speedups_from_config(lesion_store, tmp_path):
    """bf16 autocast and channels-last, as on a GPU (here on the CPU): finite scores, a log."""
    _segment(lesion_store / "store", tmp_path, _hp(max_epochs=1, precision="bf16", channels_last=True))
    result = json.loads((tmp_path / "result.json").read_text())
    assert 0 <= result["value"] <= 1 and result["epochs"] == 1
