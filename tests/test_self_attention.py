import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from vitmed.models import build_model, count_parameters, create_model, load_backbone_weights
from vitmed.report.ablations import self_attention_latex, self_attention_markdown, self_attention_table
from vitmed.self_attention import GlobalSelfAttention

GA = {"timm_name": "test_resnet", "family": "cnn", "self_attention": {"global_after": ["layer1", "layer2"]}}


def test_parameter_counts_match_piater_et_al_table_1():
    """ResNet18 11.18M -> 11.22M (+0.37 %), EfficientNet-B0 4.01M -> 4.02M with 3 classes."""
    for name, after, base_m, ga_m, change in [("resnet18", ["layer1", "layer2"], 11.18, 11.22, 0.0037),
                                              ("efficientnet_b0", ["blocks.1", "blocks.2"], 4.01, 4.02, 0.0011)]:
        base = count_parameters(create_model(name, 3))
        extended = count_parameters(create_model(name, 3, None, {}, after))
        assert round(base / 1e6, 2) == base_m and round(extended / 1e6, 2) == ga_m
        assert extended / base - 1 == pytest.approx(change, abs=5e-5)


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
        create_model("test_resnet", 2, None, {}, ["layer9"])


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
    assert table.loc[("CNN-GA", "A"), "t"] == pytest.approx(t) and table.loc[("CNN-GA", "A"), "p_value"] == pytest.approx(p)
    assert table.loc[("CNN-GA", "A"), "significant"] and not table.loc[("CNN-GA", "B"), "significant"]
    assert np.isnan(table.loc[("CNN", "A"), "p_value"]) and not table.loc[("CNN", "A"), "significant"]
    assert table.loc[("CNN", "B"), "mean"] == pytest.approx(0.55) and table.loc[("CNN", "B"), "std"] == pytest.approx(0.05)
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
