"""Palés Huix et al.'s appended classifier: foundation patch tokens -> projection -> a ViT classifier."""
import pytest
import timm
import torch
import yaml
from helpers import ROOT

from vitmed.models.appended import appended_foundation
from vitmed.models.factory import build_model, count_parameters, create_model

TOY = {"pretrained_cfg_overlay": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}
TOY_VIT = {**TOY, "img_size": 32, "patch_size": 8, "dynamic_img_size": True}
CLASSIFIER = {"timm_name": "test_vit", "kwargs": {**TOY, "img_size": 32, "patch_size": 8}, "weights": None}
APPENDED = {"timm_name": "test_vit", "family": "vit", "kwargs": TOY_VIT, "appended": CLASSIFIER}


def test_the_classifier_reads_the_foundations_patch_tokens_through_a_projection():
    torch.manual_seed(0)
    model = build_model(APPENDED, 3).eval()
    foundation = appended_foundation(model)
    images = torch.randn(2, 3, 32, 32)
    seen = {}
    model.patch_embed.register_forward_hook(lambda _m, _i, out: seen.setdefault("tokens", out))
    logits = model(images)
    assert logits.shape == (2, 3)
    patch_tokens = foundation.forward_features(images)[:, 1:]  # its CLS token dropped
    expected = model.patch_embed.projection(patch_tokens).reshape(2, 4, 4, -1)
    torch.testing.assert_close(seen["tokens"], expected)
    # classified from the classifier's own CLS token: a ViT's forward, from the projected grid on
    own = model.norm(model.blocks(model._pos_embed(expected)))
    torch.testing.assert_close(logits, model.forward_head(own))
    # parameters: the foundation without head + projection + the classifier without its patch embedding
    classifier = create_model("test_vit", 3, None, CLASSIFIER["kwargs"])
    embedding = sum(p.numel() for p in classifier.patch_embed.parameters())
    projection = foundation.num_features * classifier.embed_dim + classifier.embed_dim
    assert count_parameters(model) == (count_parameters(create_model("test_vit", 0, None, TOY_VIT)) + projection
                                       + count_parameters(classifier) - embedding)


def test_a_feature_map_foundation_gives_one_token_per_position():
    """SAM's neck and a CNN end in a (C, H, W) map: its positions are the tokens."""
    torch.manual_seed(0)
    model = build_model({"timm_name": "test_resnet", "family": "cnn", "kwargs": TOY, "appended": CLASSIFIER}, 2)
    seen = {}
    model.patch_embed.register_forward_hook(lambda _m, _i, out: seen.setdefault("tokens", out))
    model(torch.randn(2, 3, 64, 64))
    features = appended_foundation(model).forward_features(torch.randn(1, 3, 64, 64))
    assert seen["tokens"].shape == (2, *features.shape[-2:], model.embed_dim)


def test_frozen_trains_the_classifier_and_keeps_the_foundation_bit_identical():
    torch.manual_seed(0)
    model = build_model({"timm_name": "test_resnet", "family": "cnn", "kwargs": TOY, "appended": CLASSIFIER,
                         "frozen": True}, 3)
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trained and not any(name.startswith("patch_embed.foundation.") for name in trained)
    assert "patch_embed.projection.weight" in trained and "head.weight" in trained and "cls_token" in trained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1, weight_decay=0.5)
    model.train()
    for _ in range(2):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 64, 64)), torch.tensor([0, 1, 2, 0])).backward()
        optimizer.step()
    for key, value in model.state_dict().items():  # running statistics of batch norm included
        assert torch.equal(value, before[key]) == key.startswith("patch_embed.foundation."), key


def test_decapitation_keeps_the_first_blocks_only():
    torch.manual_seed(0)
    model = build_model(dict(APPENDED, decapitate=2), 3)
    assert len(appended_foundation(model).blocks) == 2 and len(model.blocks) == 6
    with pytest.raises(ValueError, match="decapitate: 7 blocks asked, but VisionTransformer has 6"):
        build_model(dict(APPENDED, decapitate=7), 3)
    with pytest.raises(ValueError, match="decapitate: 1 blocks asked, but ResNet has no transformer blocks"):
        build_model({"timm_name": "test_resnet", "family": "cnn", "appended": CLASSIFIER, "decapitate": 1}, 3)


def test_each_part_starts_from_its_own_weights(tmp_path):
    """The foundation from the run's weights; the classifier from its own (a state dict in DeiT's
    released layout, {"model": ...}), its head re-initialized; from random init both random."""
    torch.manual_seed(1)
    foundation = create_model("test_vit", 0, None, TOY_VIT)
    torch.save(foundation.state_dict(), tmp_path / "foundation.pt")
    deit = create_model("test_vit", 1000, None, CLASSIFIER["kwargs"])
    torch.save({"model": deit.state_dict()}, tmp_path / "deit.pt")
    config = dict(APPENDED, appended=dict(CLASSIFIER, weights=str(tmp_path / "deit.pt")))
    model = build_model(config, 3, str(tmp_path / "foundation.pt"))
    own = appended_foundation(model)
    torch.testing.assert_close(own.blocks[0].attn.qkv.weight, foundation.blocks[0].attn.qkv.weight)
    torch.testing.assert_close(model.blocks[5].mlp.fc2.weight, deit.blocks[5].mlp.fc2.weight)
    torch.testing.assert_close(model.cls_token, deit.cls_token)
    assert model.head.weight.shape == (3, deit.embed_dim)  # a new head for the task
    random = build_model(config, 3, None)  # init random: no weights file is read, the hub never asked
    assert not torch.equal(random.blocks[5].mlp.fc2.weight, deit.blocks[5].mlp.fc2.weight)


@pytest.mark.slow
@pytest.mark.parametrize("foundation", ["DINOv2", "SAM", "ResNet152", "SEEM"])
def test_deit_b_appended_to_each_foundation_architecture_trains(foundation):
    """Their DeiT-B appended to the real architectures (random weights, offline): DINOv2's 16 x 16
    grid of 14-px patches (DeiT-B's position embedding resampled from 14 x 14), SAM's neck map,
    ResNet152's and SEEM's 7 x 7 maps; forward and backward at 224 px, the frozen foundation without gradients."""
    preset = yaml.safe_load((ROOT / "presets" / "foundation.yaml").read_text())
    config = {**preset["models"][foundation], "timm_name": preset["models"][foundation]["timm_name"].split(".")[0],
              "appended": {"timm_name": "deit_base_patch16_224", "weights": None}, "frozen": True}
    torch.manual_seed(0)
    model = build_model(config, 5)
    loss = model(torch.randn(1, 3, 224, 224)).sum()
    loss.backward()
    assert all(p.grad is None for p in appended_foundation(model).parameters())
    assert model.head.weight.grad is not None and model.patch_embed.projection.weight.grad is not None
    deit = timm.create_model("deit_base_patch16_224", pretrained=False, num_classes=5)
    assert count_parameters(model) > count_parameters(deit)
