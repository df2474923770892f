import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from vitmed.models.factory import build_model, count_parameters, create_model, load_backbone_weights
from vitmed.models.self_attention import EmbeddedLocalSelfAttention, GlobalSelfAttention, LocalSelfAttention
from vitmed.report.ablations import (
    self_attention_latex,
    self_attention_markdown,
    self_attention_table,
    with_out_of_distribution,
)

GA = {"timm_name": "test_resnet", "family": "cnn", "self_attention": {"global_after": ["layer1", "layer2"]}}


RESNET18_LAST_STAGE = ["layer4.0.conv1", "layer4.0.conv2", "layer4.1.conv1", "layer4.1.conv2"]


@pytest.mark.parametrize("name, stages, last, table", [
    ("resnet18", ["layer1", "layer2"], RESNET18_LAST_STAGE,
     {"Base": (11.18, 0.0), "GA": (11.22, 0.37), "LA": (5.67, -49.25), "GA+LA": (5.71, -48.87),
      "ELA": (14.98, 34.02), "GA+ELA": (15.02, 34.40)}),
    ("efficientnet_b0", ["blocks.1", "blocks.2"], ["blocks.6.0"],
     {"Base": (4.01, 0.0), "GA": (4.02, 0.12), "LA": (3.48, -13.29), "GA+LA": (3.48, -13.17),
      "ELA": (4.30, 7.16), "GA+ELA": (4.30, 7.27)})])
def test_parameter_counts_match_piater_et_al_table_1(name, stages, last, table):
    """Millions of parameters (3 classes) and % change of every row of their Table 1: GA after
    two stages; LA / ELA in place of ResNet18's last-stage convolutions or EfficientNet-B0's
    last MBConv block."""
    base = count_parameters(create_model(name, 3))
    for row, (millions, change) in table.items():
        variant = {"global_after": stages if "GA" in row else []}
        if "LA" in row:
            variant["local"] = {"modules": last, "embedded": "ELA" in row}
        n = count_parameters(create_model(name, 3, None, {}, variant))
        assert round(n / 1e6, 2) == millions, row
        assert 100 * (n / base - 1) == pytest.approx(change, abs=0.015), row  # theirs are rounded


def test_block_is_the_wang_et_al_non_local_operation():
    torch.manual_seed(0)
    block = GlobalSelfAttention(8)
    torch.nn.init.normal_(block.out.weight)  # zero at init: give it weight to see the attention
    x = torch.randn(2, 8, 5, 3)
    values = block.g(x).flatten(2)                                        # (N, C/2, HW)
    mixed = values @ block.attention(x).transpose(1, 2)                   # y_i = sum_j softmax_j(θ_i·φ_j) g_j
    expected = x + block.out(mixed.view(2, 4, 5, 3))
    torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)
    assert torch.allclose(block.attention(x).sum(-1), torch.ones(2, 15))


def test_variant_with_its_cnns_weights_is_the_cnn(tmp_path):
    """Blocks start as the identity: the CNN's weights file loads into the variant (without the
    blocks' parameters) and both give the same outputs; a file of the variant restores its blocks."""
    torch.manual_seed(1)
    base = build_model({"timm_name": "test_resnet", "family": "cnn"}, 4).eval()
    torch.save(base.state_dict(), tmp_path / "base.pt")
    variant = build_model(GA, 4, str(tmp_path / "base.pt")).eval()
    images = torch.randn(3, 3, 32, 32)
    features = base.forward_features(images)  # a weights file's classifier is not loaded
    torch.testing.assert_close(variant.forward_features(images), features, rtol=0, atol=0)

    for block in variant.global_attention.values():  # as if trained
        torch.nn.init.normal_(block.out.weight)
    changed = variant.forward_features(images)
    assert not torch.allclose(changed, features)
    torch.save(variant.state_dict(), tmp_path / "variant.pt")
    restored = build_model(GA, 4, str(tmp_path / "variant.pt")).eval()
    torch.testing.assert_close(restored.forward_features(images), changed, rtol=0, atol=0)
    # intermediate features pass through the blocks too (the analyses read them)
    assert len(restored.forward_intermediates(images, intermediates_only=True)) == 5

    partial = {k: v for k, v in variant.state_dict().items() if not k.startswith("global_attention.layer2")}
    torch.save(partial, tmp_path / "partial.pt")
    with pytest.raises(ValueError, match="partial.pt does not fit.*global_attention.layer2"):
        load_backbone_weights(build_model(GA, 4), tmp_path / "partial.pt")


def test_unknown_stage_is_named():
    with pytest.raises(ValueError, match=r"'layer9' is not one of the feature stages \['act1', 'layer1'"):
        create_model("test_resnet", 2, None, {}, {"global_after": ["layer9"]})


def test_table_compares_each_variant_with_its_cnn_by_welch_test():
    rows = []
    values = {("A", "CNN"): [0.70, 0.72, 0.71], ("A", "CNN-GA"): [0.80, 0.82, 0.81],
              ("B", "CNN"): [0.50, 0.60, 0.55], ("B", "CNN-GA"): [0.52, 0.61, 0.50]}
    for (dataset, model), vals in values.items():
        for seed, value in enumerate(vals):
            rows.append({"dataset": dataset, "model": model, "init": "imagenet", "seed": seed, "protocol": "finetune",
                         "metric": "roc_auc", "value": value, "n_parameters": 1000 if model == "CNN" else 1037})
    rows.append(dict(rows[0], init="random", value=0.0))  # another init: left out
    table = self_attention_table(pd.DataFrame(rows), {"CNN": ["CNN-GA"]}, "imagenet", ["A", "B"]).set_index(
        ["model", "dataset"])
    t, p = stats.ttest_ind([0.80, 0.82, 0.81], [0.70, 0.72, 0.71], equal_var=False)
    assert table.loc[("CNN-GA", "A"), "t"] == pytest.approx(t) and table.loc[
        ("CNN-GA", "A"), "p_value"
    ] == pytest.approx(p)
    assert table.loc[("CNN-GA", "A"), "significant"] and not table.loc[("CNN-GA", "B"), "significant"]
    assert np.isnan(table.loc[("CNN", "A"), "p_value"]) and not table.loc[("CNN", "A"), "significant"]
    assert table.loc[("CNN", "B"), "mean"] == pytest.approx(0.55) and table.loc[("CNN", "B"), "std"] == pytest.approx(
        0.05
    )
    assert table.loc[("CNN-GA", "A"), "parameter_change"] == pytest.approx(0.037)
    frame = table.reset_index()
    markdown = self_attention_markdown(frame, {"A": "roc_auc", "B": "roc_auc"}, "T")
    assert "| CNN-GA (vs CNN) | 0.00M (+3.70%) | **0.810 ± 0.010** | 0.543 ± 0.059 |" in markdown
    latex = self_attention_latex(frame, {"A": "roc_auc", "B": "roc_auc"}, "T")
    assert r"\textbf{0.810 $\pm$ 0.010}" in latex and r"+3.70\%" in latex

    with pytest.raises(ValueError, match="no imagenet fine-tuning of CNN on C"):
        self_attention_table(pd.DataFrame(rows), {"CNN": ["CNN-GA"]}, "imagenet", ["C"])
    rows.append(dict(rows[0], dataset="C"))  # the CNN ran on C, its variant did not
    with pytest.raises(ValueError, match="no imagenet fine-tuning of CNN-GA on C"):
        self_attention_table(pd.DataFrame(rows), {"CNN": ["CNN-GA"]}, "imagenet", ["C"])


def test_out_of_distribution_results_follow_in_parentheses():
    """Piater et al.'s Table 2: "ID (OOD)" per cell, each tested against the base on its own."""
    rows = []
    values = {("finetune", "CNN"): [0.70, 0.72, 0.71], ("finetune", "CNN-LA"): [0.71, 0.70, 0.73],
              ("ood", "CNN"): [0.60, 0.61, 0.62], ("ood", "CNN-LA"): [0.50, 0.51, 0.52]}
    for (protocol, model), vals in values.items():
        for dataset in ("A", "B"):
            for seed, value in enumerate(vals):
                if protocol == "ood" and dataset == "B":
                    continue  # B has no out-of-distribution test set
                rows.append({"dataset": dataset, "model": model, "init": "imagenet", "seed": seed,
                             "protocol": protocol, "metric": "roc_auc", "value": value,
                             "n_parameters": 1000 if model == "CNN" else 500})
    runs = pd.DataFrame(rows)
    table = self_attention_table(runs, {"CNN": ["CNN-LA"]}, "imagenet", ["A", "B"])
    ood = self_attention_table(runs, {"CNN": ["CNN-LA"]}, "imagenet", ["A"], protocol="ood")
    merged = with_out_of_distribution(table, ood).set_index(["model", "dataset"])
    t, p = stats.ttest_ind([0.50, 0.51, 0.52], [0.60, 0.61, 0.62], equal_var=False)
    assert merged.loc[("CNN-LA", "A"), "ood_t"] == pytest.approx(t) and merged.loc[("CNN-LA", "A"), "ood_significant"]
    assert not merged.loc[("CNN-LA", "A"), "significant"] and np.isnan(merged.loc[("CNN-LA", "B"), "ood_mean"])
    markdown = self_attention_markdown(merged.reset_index(), {"A": "roc_auc", "B": "roc_auc"}, "T")
    assert "| CNN-LA (vs CNN) | 0.00M (-50.00%) | 0.713 ± 0.015 (**0.510 ± 0.010**) | 0.713 ± 0.015 |" in markdown
    assert "| CNN | 0.00M (+0.00%) | 0.710 ± 0.010 (0.610 ± 0.010) | 0.710 ± 0.010 |" in markdown
    with pytest.raises(ValueError, match="no imagenet out-of-distribution test of CNN on B"):
        self_attention_table(runs, {"CNN": ["CNN-LA"]}, "imagenet", ["B"], protocol="ood")


def test_the_vit_rows_follow_the_cnns_untested_with_their_own_parameters():
    """Piater et al.'s Table 2 ends with ViT-T (ImageNet-1K, -21K): mean ± std and OOD in
    parentheses, not tested against a CNN."""
    from vitmed.report.ablations import self_attention_report

    rows = []
    for model, vals, ood_vals, parameters in (("CNN", [0.70, 0.72, 0.71], [0.6, 0.61, 0.62], 1000),
                                              ("CNN-GA", [0.70, 0.71, 0.72], [0.6, 0.6, 0.6], 1100),
                                              ("ViT-1K", [0.50, 0.90, 0.70], [0.4, 0.5, 0.6], 5_500_000),
                                              ("ViT-21K", [0.80, 0.81, 0.82], [0.7, 0.7, 0.7], 5_500_000)):
        for protocol, values in (("finetune", vals), ("ood", ood_vals)):
            rows += [{"dataset": "A", "model": model, "init": "imagenet", "seed": seed, "protocol": protocol,
                      "metric": "macro_recall", "value": value, "n_parameters": parameters}
                     for seed, value in enumerate(values)]
    table, markdown, latex = self_attention_report(pd.DataFrame(rows), {"CNN": ["CNN-GA"]}, "imagenet",
                                                   {"A": "macro_recall"}, {"A": "A-OOD"}, "s", ["ViT-1K", "ViT-21K"])
    assert list(table["model"]) == ["CNN", "CNN-GA", "ViT-1K", "ViT-21K"]
    vit = table.set_index("model").loc["ViT-1K"]
    assert vit["mean"] == pytest.approx(0.70) and vit["std"] == pytest.approx(0.20) and not vit["significant"]
    assert np.isnan(vit["p_value"]) and np.isnan(vit["parameter_change"]) and vit["ood_mean"] == pytest.approx(0.5)
    assert "| ViT-1K | 5.50M | 0.700 ± 0.200 (0.500 ± 0.100) |" in markdown
    assert markdown.index("| CNN-GA (vs CNN)") < markdown.index("| ViT-1K |") < markdown.index("| ViT-21K |")
    assert r"ViT-21K & 5.50M & 0.810 $\pm$ 0.010 (0.700 $\pm$ 0.000)" in latex


def explicit_local_attention(block: LocalSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """y_ij = sum over the in-map K x K neighbours ab of softmax_ab(q_ij . k_ab) v_ab, per head."""
    q, k, v = block.query(x), block.key(x), block.value(x)
    n, c, h, w = q.shape
    heads, r = block.heads, block.kernel_size // 2
    d = c // heads
    y = torch.zeros_like(q)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                rows, cols = range(max(0, i - r), min(h, i + r + 1)), range(max(0, j - r), min(w, j + r + 1))
                for head in range(heads):
                    ch = slice(head * d, head * d + d)
                    keys = torch.stack([k[b, ch, a, e] for a in rows for e in cols])      # (neighbours, d)
                    values = torch.stack([v[b, ch, a, e] for a in rows for e in cols])
                    y[b, ch, i, j] = torch.softmax(keys @ q[b, ch, i, j], 0) @ values
    return y


def test_local_block_is_ramachandran_et_al_local_attention():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 7, 5)
    block = LocalSelfAttention(6, 8, stride=1, kernel_size=3, heads=2)
    expected = explicit_local_attention(block, x)
    torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)
    weights = block.attention(x)  # (N, heads, K², HW): corners see 4 neighbours, the interior 9
    assert torch.allclose(weights.sum(2), torch.ones(2, 2, 35))
    assert (weights[0, 0, :, 0] > 0).sum() == 4 and (weights[0, 0, :, 6] > 0).sum() == 9
    # a stride is an average pooling after the attention, to the replaced convolution's size
    strided = LocalSelfAttention(6, 8, stride=2, kernel_size=3, heads=2)
    strided.load_state_dict(block.state_dict())
    conv = torch.nn.Conv2d(6, 8, 3, stride=2, padding=1)
    assert strided(x).shape == conv(x).shape == (2, 8, 4, 3)
    torch.testing.assert_close(strided(x)[:, :, :3, :2], torch.nn.functional.avg_pool2d(expected, 2)[:, :, :3, :2])
    torch.testing.assert_close(strided(x)[:, :, 3, 2], expected[:, :, 6, 4])  # a window cut by the edge
    with pytest.raises(ValueError, match="3 heads do not divide 8 channels"):
        LocalSelfAttention(6, 8, heads=3)


LA = {"timm_name": "test_resnet", "family": "cnn",
      "self_attention": {"global_after": ["layer1"], "local": {"modules": ["layer4.0.conv1", "layer4.0.conv2"]}}}
ELA = {**LA, "self_attention": {"local": {"modules": ["layer4.0.conv1", "layer4.0.conv2"], "embedded": True,
                                          "kernel_size": 3, "heads": 4}}}


def test_local_variants_start_from_the_cnns_weights(tmp_path):
    """ELA with the CNN's weights is the CNN; LA keeps every weight but the replaced
    convolutions'; both run at other input sizes; a variant's own file restores it."""
    torch.manual_seed(2)
    base = build_model({"timm_name": "test_resnet", "family": "cnn"}, 4).eval()
    for module in base.modules():  # timm zero-initializes each block's last BN: as if trained instead
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
    torch.save(base.state_dict(), tmp_path / "base.pt")
    images = torch.randn(2, 3, 40, 40)  # layer4 sees 3x3 maps: a stride-2 replacement must give 2x2

    ela = build_model(ELA, 4, str(tmp_path / "base.pt")).eval()
    assert isinstance(ela.layer4[0].conv1, EmbeddedLocalSelfAttention)
    torch.testing.assert_close(ela.forward_features(images), base.forward_features(images), rtol=0, atol=0)
    torch.nn.init.normal_(ela.layer4[0].conv2.out.weight)  # as if trained
    changed = ela.forward_features(images)
    assert not torch.allclose(changed, base.forward_features(images))
    torch.save(ela.state_dict(), tmp_path / "ela.pt")
    torch.testing.assert_close(build_model(ELA, 4, str(tmp_path / "ela.pt")).eval().forward_features(images), changed,
                               rtol=0, atol=0)

    la = build_model(LA, 4, str(tmp_path / "base.pt")).eval()
    assert isinstance(la.layer4[0].conv1, LocalSelfAttention) and la.layer4[0].conv1.pool.stride == 2
    kept = {k: v for k, v in base.state_dict().items() if not k.startswith(("layer4.0.conv", "fc."))}
    la_state = la.state_dict()
    assert all(torch.equal(la_state[k], v) for k, v in kept.items())
    assert la.forward_features(images).shape == base.forward_features(images).shape == (2, 96, 2, 2)
    torch.save(la_state, tmp_path / "la.pt")
    restored = build_model(LA, 4, str(tmp_path / "la.pt")).eval()
    torch.testing.assert_close(restored.forward_features(images), la.forward_features(images), rtol=0, atol=0)
    # a file of another variant fits neither layout: named, not silently half-loaded
    with pytest.raises(ValueError, match="ela.pt does not fit"):
        build_model(LA, 4, str(tmp_path / "ela.pt"))
    # an older file without BatchNorm's num_batches_tracked is still the base CNN's
    older = {k: v for k, v in base.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(older, tmp_path / "older.pt")
    torch.testing.assert_close(build_model(ELA, 4, str(tmp_path / "older.pt")).eval().forward_features(images),
                               base.forward_features(images), rtol=0, atol=0)


def test_local_attention_may_not_replace_a_hooked_module():
    with pytest.raises(ValueError, match="'layer3' would replace 'layer3', whose hook runs a GA block"):
        create_model("test_resnet", 2, None, {}, {"global_after": ["layer3"], "local": {"modules": ["layer3"]}})
    with pytest.raises(ValueError, match="'conv1' would replace 'conv1.0'"):  # the first convolution
        create_model("test_resnet", 2, None, {}, {"local": {"modules": ["conv1"]}})


def test_unknown_local_module_is_named():
    with pytest.raises(ValueError, match=r"\['layer4.9.conv1'\] are not modules of ResNet"):
        create_model("test_resnet", 2, None, {}, {"local": {"modules": ["layer4.9.conv1"]}})
