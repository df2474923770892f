"""Piater et al.'s Table 3: the eight features on images where their values are known, the three
conditional-independence tests on data with a planted dependence, the majority decision, the
best run, the ISIC 2019 metadata and the rendered table."""
import json

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vitmed.analysis import lesion_features as lf
from vitmed.analysis.feature_usage import best_run, feature_usage
from vitmed.analysis.independence import TESTS, independence_pvalues, majority_dependent
from vitmed.data.adapters import read_isic2019
from vitmed.data.raw import read_plain_layout, write_plain_layout
from vitmed.data.store import build_store
from vitmed.data.synthetic import LESION_CLASSES, lesion_classes
from vitmed.evaluate.segmentation import predict_masks
from vitmed.report.feature_usage import feature_usage_markdown, feature_usage_table

SIZE = 64


def disc(cy=32, cx=32, r=14):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    return (yy - cy) ** 2 + (xx - cx) ** 2 < r**2


def skin_image(mask, skin=(220, 180, 160), lesion=(90, 50, 30)):
    image = np.empty((SIZE, SIZE, 3), np.uint8)
    image[:] = skin
    image[mask] = lesion
    return image


# --- the features ------------------------------------------------------------------------------


def test_asymmetry_is_zero_for_mirror_symmetric_lesions_and_large_for_an_l():
    yy, xx = np.mgrid[:SIZE, :SIZE]
    ellipse = ((yy - 30) / 8) ** 2 + ((xx - 33) / 20) ** 2 < 1
    ell = np.zeros((SIZE, SIZE), bool)
    ell[10:50, 10:20] = True
    ell[40:50, 10:45] = True
    assert lf.asymmetry(disc()) == 0 and lf.asymmetry(ellipse) == 0
    assert lf.asymmetry(ell) > 0.6  # half of an L does not fall on itself when mirrored
    assert np.isnan(lf.asymmetry(np.zeros((SIZE, SIZE), bool)))


def test_border_irregularity_is_about_one_for_a_disc_and_grows_with_the_wobble():
    yy, xx = np.mgrid[:SIZE, :SIZE]
    angle = np.arctan2(yy - 32, xx - 32)
    radius = np.hypot(yy - 32, xx - 32)
    scores = [lf.border_irregularity(radius < 14 * (1 + wobble * np.cos(5 * angle))) for wobble in (0, 0.2, 0.4)]
    assert 0.95 < scores[0] < 1.2  # P² / 4πA of a digital disc
    assert scores[0] < scores[1] < scores[2]


def test_colour_count_counts_the_abcd_colours_covering_five_percent():
    mask = disc()
    image = skin_image(mask, lesion=(50, 0, 0))  # dark brown
    assert lf.colour_count(image, mask) == 1
    image[mask & (np.mgrid[:SIZE, :SIZE][1] < 32)] = (0, 0, 0)  # left half black
    assert lf.colour_count(image, mask) == 2
    image[30:32, 30:32] = (255, 255, 255)  # 4 white pixels: < 5 % of the lesion
    assert lf.colour_count(image, mask) == 2


def test_individual_typology_angle_of_uniform_skin_is_the_formula():
    mask = disc(r=6)
    image = skin_image(mask, skin=(200, 150, 120))
    lab = cv2.cvtColor(np.float32([[[200, 150, 120]]]) / 255, cv2.COLOR_RGB2Lab)[0, 0]
    expected = np.degrees(np.arctan((lab[0] - 50) / lab[2]))
    assert lf.individual_typology_angle(image, mask) == pytest.approx(expected, abs=1e-3)
    darker = lf.individual_typology_angle(skin_image(mask, skin=(120, 80, 60)), mask)
    assert darker < expected and darker < 0  # "dark" skin has a negative ITA
    vignette = skin_image(mask, skin=(200, 150, 120))
    vignette[:8] = 0  # a dermoscope's black border is not skin
    assert lf.individual_typology_angle(vignette, mask) == pytest.approx(expected, abs=1e-3)


def test_colourful_patch_is_found_outside_the_lesion_only():
    mask = disc()
    image = skin_image(mask)
    assert lf.colourful_patch(image, mask) == 0
    image[2:10, 52:60] = (30, 200, 60)  # a green sticker, 64 px = 1.6 % of the image
    assert lf.colourful_patch(image, mask) == 1
    inside = skin_image(mask)
    inside[28:36, 28:36] = (30, 60, 220)  # blue inside the lesion: a colour of the lesion, not a patch
    assert lf.colourful_patch(inside, mask) == 0
    tiny = skin_image(mask)
    tiny[2:4, 52:54] = (30, 200, 60)  # 4 px: below 0.5 % of the image
    assert lf.colourful_patch(tiny, mask) == 0


def test_dermoscopic_structures_read_from_isic_2018_task2_masks(tmp_path):
    for name in lf.DERMOSCOPIC_ATTRIBUTES:
        pixels = np.zeros((20, 20), np.uint8)
        if name in ("pigment_network", "globules"):
            pixels[5:8, 5:8] = 255
        Image.fromarray(pixels).save(tmp_path / f"ISIC_0000001_attribute_{name}.png")
    assert lf.dermoscopic_structures(tmp_path, "ISIC_0000001") == 2
    assert np.isnan(lf.dermoscopic_structures(tmp_path, "ISIC_0000002"))  # not annotated
    assert np.isnan(lf.dermoscopic_structures(None, "ISIC_0000001"))
    (tmp_path / "ISIC_0000001_attribute_streaks.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"ISIC_0000001_attribute_streaks.png: image ISIC_0000001 has some"):
        lf.dermoscopic_structures(tmp_path, "ISIC_0000001")


def test_task2_masks_are_downloaded_once_in_the_publishers_layout(publisher, tmp_path):
    import zipfile

    from vitmed.data import fetch

    root, url = publisher
    name = fetch.ISIC2018_TASK2
    with zipfile.ZipFile(root / f"{name}.zip", "w") as archive:  # the archive unpacks to its own name
        for attribute in lf.DERMOSCOPIC_ATTRIBUTES:
            pixels = np.zeros((12, 12), np.uint8)
            pixels[2:4, 2:4] = 255 if attribute == "streaks" else 0
            Image.fromarray(pixels).save(tmp_path / "mask.png")
            archive.write(tmp_path / "mask.png", f"{name}/ISIC_0000007_attribute_{attribute}.png")
    folder = fetch.fetch_dermoscopic_masks(tmp_path / "downloads", base_url=url)
    assert folder == (tmp_path / "downloads" / "isic2018_task2" / name).resolve()
    assert lf.dermoscopic_structures(folder, "ISIC_0000007") == 1
    (root / f"{name}.zip").unlink()  # once: a second study needs no server
    assert fetch.fetch_dermoscopic_masks(tmp_path / "downloads", base_url=url) == folder


def test_sex_codes_and_a_bad_value_is_named():
    codes = lf.sex_code(pd.Series(["male", "female", None, " Male", ""]))
    np.testing.assert_array_equal(codes, [1.0, 0.0, np.nan, 1.0, np.nan])
    with pytest.raises(ValueError, match=r"sex: expected 'male', 'female' or empty, got 'unknown'"):
        lf.sex_code(pd.Series(["male", "unknown"]))


def test_feature_table_per_store_row_with_metadata_and_an_empty_mask():
    masks = np.stack([disc(), np.zeros((SIZE, SIZE), bool), disc(r=10)])
    images = np.stack([skin_image(m) for m in masks])
    index = pd.DataFrame({"sample_id": ["a", "b", "c"], "store_row": [2, 1, 0], "age": [30.0, np.nan, 70.0],
                          "sex": ["female", "male", None]})
    table = lf.lesion_feature_table(images, masks, index)
    assert list(table.columns) == ["sample_id", "store_row", *lf.FEATURES]
    assert table["sample_id"].tolist() == ["a", "b", "c"]
    assert np.isnan(table.loc[1, "asymmetry"]) and not np.isnan(table.loc[0, "asymmetry"])  # b's mask is empty
    np.testing.assert_array_equal(table["age"], [30.0, np.nan, 70.0])
    np.testing.assert_array_equal(table["sex"], [0.0, 1.0, np.nan])
    assert table["dermoscopic_structures"].isna().all()


# --- the tests ---------------------------------------------------------------------------------


def planted(n=300, seed=0):
    """Labels, predictions that depend on the label and on ``used``, and three features: ``used``,
    ``unused`` (independent of everything) and ``by_label`` (dependent on the prediction only
    through the label: independent given it)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    used, unused = rng.normal(size=n), rng.normal(size=n)
    by_label = labels * 10.0 + rng.normal(size=n)
    logits = 2.0 * np.eye(3)[labels] + np.outer(used, [1.0, -1.0, 0.0]) + 0.5 * rng.normal(size=(n, 3))
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return labels, scores, {"used": used, "unused": unused, "by_label": by_label}


def test_each_test_finds_a_planted_dependence_and_not_an_independent_or_label_only_one():
    labels, scores, features = planted()
    onehot = np.eye(3)[labels]
    used = independence_pvalues(features["used"], scores, onehot)
    assert set(used) == set(TESTS) and max(used.values()) < 0.01
    for name in ("unused", "by_label"):  # a calibrated test errs at p < 0.001 once in a thousand
        pvalues = independence_pvalues(features[name], scores, onehot)
        assert min(pvalues.values()) > 0.001 and not majority_dependent(pvalues, 0.01), (name, pvalues)
    assert independence_pvalues(features["used"], scores, onehot) == used  # seeded: the same p-values again


def test_independence_inputs_are_checked():
    with pytest.raises(ValueError, match="as many rows"):
        independence_pvalues(np.zeros(5), np.zeros((4, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="x holds NaN"):
        independence_pvalues(np.array([np.nan, 1, 2]), np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"unknown independence test\(s\) \['hsic'\]"):
        independence_pvalues(np.zeros(3), np.zeros(3), np.zeros(3), tests=["hsic"])


@pytest.mark.parametrize("pvalues, dependent", [
    ({"chsic": 0.001, "rcot": 0.005, "cmiknn": 0.5}, True),
    ({"chsic": 0.001, "rcot": 0.02, "cmiknn": 0.5}, False),
    ({"chsic": 0.01, "rcot": 0.01, "cmiknn": 0.01}, False),  # p < alpha, strictly
    ({"chsic": 0.001, "rcot": 0.5}, False),  # a tie is no majority
])
def test_majority_decision(pvalues, dependent):
    assert majority_dependent(pvalues, 0.01) is dependent


def test_feature_usage_of_a_model_on_its_test_images():
    labels, scores, planted_features = planted(n=200)
    ids = np.array([f"img{i}" for i in range(200)])
    features = pd.DataFrame({"sample_id": ids[::-1], "store_row": np.arange(200)})  # another order than the test's
    for name in lf.FEATURES:
        features[name] = np.nan
    features = features.set_index("sample_id")
    features.loc[ids, "colorful_patches"] = planted_features["used"]
    features.loc[ids, "sex"] = planted_features["unused"]
    features.loc[ids, "age"] = planted_features["by_label"]
    features.loc[ids[:10], "asymmetry"] = 1.0  # 10 images have it: too few to test
    features.loc[ids, "border"] = 2.0  # constant: independent of anything
    table = feature_usage(features.reset_index(), ids, scores, labels, n_classes=3, alpha=0.01, tests=TESTS,
                          max_samples=150)
    used = table.set_index("feature")["used"]
    assert used["colorful_patches"] and not used["sex"] and not used["age"] and not used["border"]
    assert pd.isna(used["asymmetry"]) and pd.isna(used["dermoscopic_structures"])
    n = table.set_index("feature")["n"]
    assert n["colorful_patches"] == 150 and n["asymmetry"] == 10 and n["dermoscopic_structures"] == 0
    with pytest.raises(ValueError, match=r"test image 'other' has no row in the feature table"):
        feature_usage(features.reset_index(), np.array(["other"]), scores[:1], labels[:1], n_classes=3, alpha=0.01,
                      tests=TESTS, max_samples=None)


def test_best_run_is_the_highest_test_score_and_a_tie_goes_to_the_lower_seed():
    runs = [{"seed": 2, "value": 0.7}, {"seed": 0, "value": 0.6}, {"seed": 1, "value": 0.7}]
    assert best_run(runs)["seed"] == 1
    with pytest.raises(ValueError, match="no runs"):
        best_run([])


def test_predicted_lesion_masks_are_the_foreground_class_at_the_image_size():
    import torch

    class Darkness(torch.nn.Module):  # "lesion" where the normalized image is dark, at half resolution
        def forward(self, x):
            dark = (x.mean(1, keepdim=True) < 0).float()
            small = torch.nn.functional.avg_pool2d(dark, 2)
            return {"out": torch.cat([1 - small, small], 1)}

    masks = disc()[None].repeat(2, 0)
    images = np.stack([skin_image(m) for m in masks])
    predicted = predict_masks(Darkness(), images, input_size=32, batch_size=1)
    assert predicted.shape == (2, SIZE, SIZE) and predicted.dtype == np.uint8
    assert (predicted == masks).mean() > 0.97  # the disc back at 64 px, up to its resampled border


# --- data: the metadata's way into the store, the synthetic biases --------------------------------


def test_isic2019_age_and_sex_reach_the_store_index(real_fixtures, tmp_path):
    from tests.test_adapters import RATIOS, isic_subset

    raw, truth = isic_subset(real_fixtures, tmp_path, n=40)
    table, manifest = read_isic2019(raw)
    build_store(table, tmp_path / "store", image_size=8, ratios=RATIOS, seed=0, metric="macro_recall")
    index = pd.read_parquet(tmp_path / "store" / "index.parquet").set_index("sample_id")
    metadata = pd.read_csv(raw / "ISIC_2019_Training_Metadata.csv").set_index("image").loc[index.index]
    np.testing.assert_array_equal(index["age"].to_numpy(float), metadata["age_approx"].to_numpy(float))
    assert (index["sex"].fillna("") == metadata["sex"].fillna("")).all()
    assert json.loads((tmp_path / "store" / "meta.json").read_text())["metadata_columns"] == ["age", "sex"]
    broken = pd.read_csv(raw / "ISIC_2019_Training_Metadata.csv", dtype=str)
    broken.loc[3, "sex"] = "unknown"
    broken.to_csv(raw / "ISIC_2019_Training_Metadata.csv", index=False)
    with pytest.raises(ValueError, match=rf"Metadata.csv data row 4 \({broken['image'][3]}\): sex 'unknown'"):
        read_isic2019(raw)


def test_synthetic_lesions_plant_the_patch_shortcut_and_carry_their_metadata(tmp_path):
    data = lesion_classes(300, 48, seed=3)
    assert data.classes == LESION_CLASSES
    patches = np.array([lf.colourful_patch(image, np.zeros(image.shape[:2], bool)) for image in data.images])
    nevus = data.labels == 0
    assert patches[nevus].mean() > 0.6 and patches[~nevus].mean() < 0.15  # 80 % vs 5 % planted
    assert data.metadata["age"][data.labels == 1].mean() > data.metadata["age"][nevus].mean() + 10
    write_plain_layout(data, tmp_path / "raw")
    raw = read_plain_layout(tmp_path / "raw")
    assert raw.metadata_columns == ["age", "sex"]
    np.testing.assert_array_equal(raw.frame["age"], data.metadata["age"])
    assert (raw.frame["sex"].fillna("none") == pd.Series(data.metadata["sex"]).fillna("none")).all()


# --- the table ---------------------------------------------------------------------------------


def test_table_marks_in_model_order_with_untested_features():
    def result(model, used):
        rows = pd.DataFrame({"feature": list(lf.FEATURES), "n": 100, "used": pd.array(used, dtype="boolean")})
        return rows.assign(model=model, seed=3, metric="macro_recall", value=0.812)

    used_a = [True, False, None, None, True, False, True, True]
    used_b = [False, False, False, None, False, False, False, None]
    table = feature_usage_table([result("B", used_b), result("A", used_a)], ["A", "B"])
    assert table["model"].unique().tolist() == ["A", "B"]
    markdown = feature_usage_markdown(table, "T", 0.01, list(TESTS), "data splits")
    assert "| A (seed 3, 0.812) | ✓ | ✗ | – | – | ✓ | ✗ | ✓ | ✓ |" in markdown
    assert "| B (seed 3, 0.812) | ✗ | ✗ | ✗ | – | ✗ | ✗ | ✗ | – |" in markdown
    assert "Not tested (–): D (too few" in markdown  # the feature no model was tested on
    with pytest.raises(ValueError, match=r"no result for model\(s\) \['C'\]"):
        feature_usage_table([result("A", used_a)], ["A", "C"])
