"""Saliency maps (Figure 4): Grad-CAM against its definition, top-50 % CLS attention."""
import numpy as np
import pytest
import timm
import torch
from torch.nn import functional as F

from vitmed.analysis.saliency import cls_attention, feature_stage, grad_cam, top_mass_mask


def test_top_mass_keeps_the_fewest_largest_entries_reaching_the_mass():
    attention = torch.tensor([[0.1, 0.4, 0.2, 0.3]])
    assert top_mass_mask(attention, 0.5).tolist() == [[False, True, False, True]]
    assert top_mass_mask(attention, 0.4).tolist() == [[False, True, False, False]]
    assert top_mass_mask(attention, 1.0).all()
    # an entry whose larger predecessors already reach the mass exactly is not kept (binary-exact weights)
    assert top_mass_mask(torch.tensor([[0.25, 0.5, 0.25]]), 0.5).tolist() == [[False, True, False]]
    assert top_mass_mask(torch.tensor([[0.25, 0.5, 0.25]]), 0.75).tolist() == [[True, True, False]]

    weights = torch.rand(8, 3, 49).softmax(-1)
    kept = top_mass_mask(weights, 0.5)
    assert ((weights * kept).sum(-1) >= 0.5 - 1e-6).all()
    smallest_kept = torch.where(kept, weights, torch.inf).min(-1).values
    assert ((weights * kept).sum(-1) - smallest_kept < 0.5).all(), "no kept entry can be dropped"
    assert (torch.where(kept, weights, torch.inf).min(-1).values
            >= torch.where(kept, -torch.inf, weights).max(-1).values).all(), "kept entries are the largest"


@pytest.mark.parametrize("stage", [-1, -3])
def test_grad_cam_follows_its_definition_on_a_timm_resnet(stage):
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=4).eval()
    images = torch.randn(3, 3, 64, 64)
    maps = grad_cam(model, images, stage)
    assert maps.shape == (3, 64, 64) and maps.min() >= 0 and maps.max() <= 1 + 1e-6
    assert (maps.reshape(3, -1).max(1) > 0.99).all(), "each map is scaled to [0, 1]"

    store = {}
    hook = feature_stage(model, stage).register_forward_hook(lambda _m, _i, out: store.update(a=out))
    logits = model(images)
    hook.remove()
    top = logits.argmax(1)
    grads = torch.autograd.grad(logits.gather(1, top[:, None]).sum(), store["a"])[0]
    cam = F.relu((grads.mean(dim=(2, 3), keepdim=True) * store["a"]).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=(64, 64), mode="bilinear", align_corners=False)[:, 0].numpy()
    cam = (cam - cam.min(axis=(1, 2), keepdims=True))
    cam = cam / (1e-7 + cam.max(axis=(1, 2), keepdims=True))
    assert np.allclose(maps, cam, atol=1e-4)


def test_cls_attention_is_the_last_layers_cls_row_over_patches():
    torch.manual_seed(0)
    model = timm.create_model("test_vit", num_classes=3, img_size=32, patch_size=8).eval()
    images = torch.randn(2, 3, 32, 32)
    attention, kept = cls_attention(model, images, mass=0.5)
    heads = model.blocks[-1].attn.num_heads
    assert attention.shape == kept.shape == (2, heads, 32, 32)
    per_patch = attention[:, :, ::8, ::8]  # one pixel per 8x8 patch
    assert np.allclose(per_patch.sum(axis=(2, 3)), 1.0, atol=1e-5)
    kept_mass = (per_patch * kept[:, :, ::8, ::8]).sum(axis=(2, 3))
    assert (kept_mass >= 0.5 - 1e-5).all() and kept[:, :, ::8, ::8].mean() < 1

    # the same row read directly from the last block's softmax(q kᵀ)
    block = model.blocks[-1]
    with torch.no_grad():
        tokens = model.patch_embed(images)
        tokens = model._pos_embed(tokens)
        for earlier in model.blocks[:-1]:
            tokens = earlier(tokens)
        x = block.norm1(tokens)
        qkv = block.attn.qkv(x).reshape(2, x.shape[1], 3, heads, -1).permute(2, 0, 3, 1, 4)
        q, k = qkv[0], qkv[1]
        probs = (q @ k.transpose(-2, -1) * block.attn.scale).softmax(-1)[:, :, 0, model.num_prefix_tokens:]
    probs = probs / probs.sum(-1, keepdim=True)
    assert np.allclose(per_patch.reshape(2, heads, -1), probs.numpy(), atol=1e-5)


def test_a_model_without_attention_is_refused():
    with pytest.raises(ValueError, match="no timm Attention layers"):
        cls_attention(timm.create_model("test_resnet", num_classes=2), torch.randn(1, 3, 32, 32))
