"""The foundation-model study (presets/foundation.yaml): its models build offline, feed every
analysis, and see the input normalization their weights were trained with."""
import pytest
import timm
import torch
import yaml
from helpers import ROOT, job_counts, load_preset, run_snakemake

from vitmed.data.constants import IMAGENET_MEAN, IMAGENET_STD
from vitmed.models.factory import build_model, embed, match_input_normalization

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def normalized(images, mean, std):
    return (images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def test_a_model_sees_the_normalization_of_its_weights():
    """ImageNet-normalized inputs reach the first convolution normalized as the weights expect,
    through forward, forward_features and forward_intermediates; nothing enters the state dict."""
    torch.manual_seed(0)
    reference = timm.create_model("test_vit", num_classes=3, img_size=32).eval()  # fed CLIP-normalized inputs
    model = timm.create_model("test_vit", num_classes=3, img_size=32).eval()
    model.load_state_dict(reference.state_dict())
    model.pretrained_cfg = dict(model.pretrained_cfg, mean=CLIP_MEAN, std=CLIP_STD)
    match_input_normalization(model)
    pixels = torch.rand(2, 3, 32, 32)
    ours, theirs = normalized(pixels, IMAGENET_MEAN, IMAGENET_STD), normalized(pixels, CLIP_MEAN, CLIP_STD)
    with torch.no_grad():
        torch.testing.assert_close(model(ours), reference(theirs), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            model.forward_features(ours), reference.forward_features(theirs), atol=1e-5, rtol=1e-5
        )
        torch.testing.assert_close(model.forward_intermediates(ours, intermediates_only=True)[0],
                                   reference.forward_intermediates(theirs, intermediates_only=True)[0],
                                   atol=1e-5, rtol=1e-5)
        assert not torch.allclose(model(ours), reference(ours))
    assert set(model.state_dict()) == set(reference.state_dict())
    reference.pretrained_cfg = dict(reference.pretrained_cfg, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    match_input_normalization(reference)  # already what the data path gives: left alone
    assert not hasattr(reference.patch_embed.proj, "input_scale")


@pytest.mark.slow
def test_preset_models_build_and_embed_at_224():
    """DINOv2 at 224 (resampled position embedding), OpenCLIP, DINOv1, SAM's encoder without its CLS
    token: each gives one embedding per image and per-block features for CKA."""
    preset = load_preset("foundation")
    expected = {"ImNet-1k-Sup": (768, 12), "ResNet152": (2048, 5), "DINOv2": (768, 12), "OpenCLIP": (768, 12),
                "SAM": (256, 12), "DINOv1": (768, 12), "BLIP": (768, 12), "SEEM": (768, 4)}
    images = torch.randn(2, 3, 224, 224)
    for name, cfg in preset["models"].items():
        model = build_model(dict(cfg, kwargs=cfg.get("kwargs", {})), 4).eval()
        with torch.no_grad():
            features = model.forward_intermediates(images, intermediates_only=True)
            assert (tuple(embed(model, images).shape), len(features)) == ((2, expected[name][0]), expected[name][1])
    clip = build_model(preset["models"]["OpenCLIP"], 4)
    first = clip.get_submodule(clip.pretrained_cfg["first_conv"])
    torch.testing.assert_close(first.input_scale.flatten(), torch.tensor(IMAGENET_STD) / torch.tensor(CLIP_STD))


def test_foundation_preset_plans_pretrained_inits_from_the_hub(tmp_path):
    result = run_snakemake(tmp_path, None, "-n", "--configfile", str(ROOT / "presets" / "foundation.yaml"))
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    preset = yaml.safe_load((ROOT / "presets" / "foundation.yaml").read_text())
    # every model, the 15 partly frozen variants of their Figure 4 (5 ViTs x 4, 8, 11 blocks), the 8
    # frozen encoders with a linear head of their Table 1, DINOv2's three other sizes (Figure 6), the 8
    # foundations with an appended DeiT-B, frozen or not (Tables 1, 2), the 5 ViTs decapitated to 3, 6, 9
    # blocks with it, frozen or not (Figure 5), and 5 at 1024 px (Table 3)
    assert counts["finetune"] == len(preset["datasets"]) * (len(preset["models"]) + 15 + 8 + 3 + 16 + 30 + 5) * len(
        preset["seeds"]) == 4 * 85 * 5
    assert counts["search_run"] == 4 * 85 * 4  # four learning rates on one seed for each
    assert counts["fetch_weights"] == 2  # BLIP's and SEEM's released checkpoints, once for all their variants
    assert counts["prepare_resized"] == 4  # every dataset once more at 1,170 px
    assert counts["freezing"] == counts["published_comparison"] == counts["claims"] == counts["capacity"] == 1
    assert counts["scenarios"] == counts["decapitation"] == counts["search"] == counts["resolution"] == 1
    assert counts["linear_probe"] == counts["knn"] == 4 and "pretrain_source" not in counts
    assert "pretrain_dino" not in counts  # the hub weights are downloaded by timm, not by a job


def test_freezing_stops_the_input_end_of_a_vit():
    """Palés Huix et al.'s progressive freezing: the patch embedding, tokens, position embedding
    and the first blocks get no gradient and stay unchanged through a weight-decayed step."""
    from vitmed.train.finetune import make_optimizer

    torch.manual_seed(0)
    # CLIP's ViTs normalize the tokens before the first block (timm's norm_pre): part of the input end
    model = build_model({"timm_name": "test_vit", "family": "vit", "freeze_blocks": 2, "kwargs": {"pre_norm": True}}, 3)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    assert "norm_pre.weight" in before
    opt = make_optimizer("adamw", model.parameters(), weight_decay=0.05)
    opt.param_groups[0]["lr"] = 1e-2
    torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 160, 160)), torch.tensor([0, 1, 2, 0])).backward()
    opt.step()
    frozen = ("patch_embed.", "cls_token", "pos_embed", "norm_pre.", "blocks.0.", "blocks.1.")
    for name, p in model.named_parameters():
        if name.startswith(frozen):
            assert p.grad is None and torch.equal(p, before[name]), name
        else:
            assert p.grad is not None and not torch.equal(p, before[name]), name
    assert any(name.startswith("blocks.2.") for name in before)  # the rest of the blocks train
    with pytest.raises(ValueError, match="freeze_blocks: 7 blocks asked, but VisionTransformer has 6 transformer"):
        build_model({"timm_name": "test_vit", "family": "vit", "freeze_blocks": 7}, 3)
    with pytest.raises(ValueError, match="ResNet has no transformer blocks"):
        build_model({"timm_name": "test_resnet", "family": "cnn", "freeze_blocks": 1}, 3)


def test_random_init_options_initialize_what_they_say(tmp_path):
    """timm's own (a ViT's linear weights: truncated normal, std 0.02) or Kaiming (every linear
    and convolution weight N(0, 2 / fan_in), biases 0); weights given: neither applies."""
    import math

    from vitmed.models.factory import build_model

    vit = {"timm_name": "vit_tiny_patch16_224", "family": "vit"}
    torch.manual_seed(0)
    timm_init = build_model(vit, 10)
    torch.manual_seed(0)
    kaiming = build_model(dict(vit, random_init="kaiming"), 10)
    fc1_timm, fc1_kaiming = timm_init.blocks[0].mlp.fc1, kaiming.blocks[0].mlp.fc1  # (768, 192)
    assert fc1_timm.weight.std().item() == pytest.approx(0.02, rel=0.15)  # timm: trunc_normal_(std=0.02)
    assert fc1_kaiming.weight.std().item() == pytest.approx(math.sqrt(2 / 192), rel=0.05)
    assert fc1_kaiming.bias.abs().max() == 0
    patch = kaiming.patch_embed.proj  # a convolution: fan in 3 * 16 * 16
    assert patch.weight.std().item() == pytest.approx(math.sqrt(2 / (3 * 16 * 16)), rel=0.05)
    head = kaiming.head
    assert head.weight.std().item() == pytest.approx(math.sqrt(2 / 192), rel=0.15)
    torch.save(timm_init.state_dict(), tmp_path / "weights.pt")
    loaded = build_model(dict(vit, random_init="kaiming"), 10, str(tmp_path / "weights.pt"))
    assert torch.equal(loaded.blocks[0].mlp.fc1.weight, fc1_timm.weight)  # from weights: no re-initialization


@pytest.mark.parametrize("timm_name, kwargs", [("test_vit", {"img_size": 32, "patch_size": 8}), ("test_resnet", {})])
def test_a_frozen_encoder_trains_its_head_only_and_keeps_its_statistics(timm_name, kwargs):
    """Palés Huix et al.'s frozen foundation + linear head: after AdamW steps with weight decay,
    every encoder tensor (batch-norm running statistics included) is bit-identical, the head
    moved, and the features the head sees in training are the eval-mode ones."""
    torch.manual_seed(0)
    model = build_model({"timm_name": timm_name, "family": "vit", "kwargs": kwargs, "frozen": True}, 3)
    head = next(name for name, module in model.named_modules() if module is model.get_classifier()) + "."
    assert {name for name, p in model.named_parameters() if p.requires_grad} == {head + "weight", head + "bias"}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1, weight_decay=0.5)
    images, labels = torch.randn(8, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    model.train()
    with torch.no_grad():
        train_features = model.forward_head(model.forward_features(images), pre_logits=True)
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]) != key.startswith(head), key
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.forward_head(model.forward_features(images), pre_logits=True), train_features)


# the paper's parameter counts (millions, its Section 3.2), and what each encoder holds as its
# publisher releases it: the supervised baselines with their 1000-class ImageNet heads, OpenCLIP
# with its projection to the 512-d joint embedding, the self-supervised DINOs, SAM, BLIP's and SEEM's encoders
# without a head
PAPER_PARAMETERS = {"ImNet-1k-Sup": (86.6, 1000), "ResNet152": (60.4, 1000), "DINOv2": (86.5, 0),
                    "OpenCLIP": (86.2, 512), "SAM": (88.8, 0), "DINOv1": (86.6, 0), "BLIP": (85.7, 0),
                    "SEEM": (29.9, 0)}


@pytest.mark.slow
def test_encoder_parameter_counts_match_the_papers():
    """Every foundation-study encoder, built from its preset entry with random weights: within
    1 % of the paper's count, but two the paper counts differently: DINOv1 is given DeiT-B's 86.6M
    (its released backbone has no head: 85.8M), and SAM's ViT-B encoder holds 89.7M with its neck at
    1024 px (the paper: 88.8M)."""
    preset = yaml.safe_load((ROOT / "presets" / "foundation.yaml").read_text())
    assert set(preset["models"]) == set(PAPER_PARAMETERS)
    counts = {}
    for name, (paper, head) in PAPER_PARAMETERS.items():
        timm_name = preset["models"][name]["timm_name"].split(".")[0]
        model = timm.create_model(timm_name, pretrained=False, num_classes=head)  # as released: native size
        counts[name] = sum(p.numel() for p in model.parameters()) / 1e6
        if name not in ("SAM", "DINOv1"):
            assert abs(counts[name] / paper - 1) < 0.01, (name, counts)
    assert counts["DINOv1"] == pytest.approx(85.8, abs=0.05) and counts["SAM"] == pytest.approx(89.67, abs=0.05)
