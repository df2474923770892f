import itertools
import math

import pytest
import timm
import torch

from vitmed.analysis.attention_distance import (
    attention_distances,
    capture_attention,
    mean_distance_per_head,
    patch_distances,
)


def brute_force_mean_distance(grid, patch):
    cells = list(itertools.product(range(grid[0]), range(grid[1])))
    return sum(math.dist(a, b) * patch for a in cells for b in cells) / len(cells) ** 2


def test_uniform_attention_gives_the_grids_mean_pairwise_distance():
    grid, patch = (4, 4), 8
    n = 1 + 16  # CLS + patches
    attention = torch.full((2, 3, n, n), 1.0 / n)
    heads = mean_distance_per_head(attention, patch_distances(grid, patch), num_prefix=1)
    torch.testing.assert_close(heads, torch.full((3,), brute_force_mean_distance(grid, patch), dtype=torch.float64))


def test_attending_only_to_itself_gives_zero():
    n = 1 + 9
    attention = torch.eye(n).expand(1, 2, n, n)
    heads = mean_distance_per_head(attention, patch_distances((3, 3), 16), num_prefix=1)
    torch.testing.assert_close(heads, torch.zeros(2, dtype=torch.float64))


def test_attending_to_the_right_neighbour_gives_one_patch():
    grid = (1, 4)
    attention = torch.zeros(1, 1, 5, 5)
    for q in range(1, 5):
        attention[0, 0, q, q + 1 if q < 4 else q - 1] = 1.0
    heads = mean_distance_per_head(attention, patch_distances(grid, 16), num_prefix=1)
    assert heads.item() == pytest.approx(16.0)


def test_captured_probabilities_are_timms_and_model_is_restored():
    torch.manual_seed(0)
    model = timm.create_model("test_vit", img_size=32, patch_size=8, num_classes=3).eval()
    images = torch.randn(2, 3, 32, 32)
    expected = model(images)
    fused_before = [b.attn.fused_attn for b in model.blocks]
    with capture_attention(model) as captured:
        out = model(images)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)  # same function, unfused kernel
    assert len(captured) == len(model.blocks)
    assert captured[0].shape == (2, model.blocks[0].attn.num_heads, 17, 17)
    torch.testing.assert_close(captured[0].sum(-1), torch.ones(2, model.blocks[0].attn.num_heads, 17))
    assert [b.attn.fused_attn for b in model.blocks] == fused_before
    table = attention_distances(model, [images, images], max_images=3)
    assert len(table) == len(model.blocks) * model.blocks[0].attn.num_heads
    assert (table["n_images"] == 3).all()
    maximum = patch_distances((4, 4), 8).max().item()
    assert table["distance"].between(0, maximum).all()


def test_the_mean_over_images_weights_each_batch_by_its_size():
    """Batches of 1 and 3 images give the mean over the 4 images, as one batch of 4 does (not
    the mean of the two batch means)."""
    torch.manual_seed(0)
    model = timm.create_model("test_vit", img_size=32, patch_size=8, num_classes=3).eval()
    images = torch.randn(4, 3, 32, 32)
    images[0] *= 5  # an image unlike the others: its batch's mean differs from theirs
    split = attention_distances(model, [images[:1], images[1:]], max_images=10)
    whole = attention_distances(model, [images], max_images=10)
    assert (split["n_images"] == 4).all()
    single = attention_distances(model, [images[:1]], max_images=10)
    assert (single["distance"] - whole["distance"]).abs().max() > 1e-3  # the test can tell the two apart
    torch.testing.assert_close(torch.tensor(split["distance"].to_numpy()), torch.tensor(whole["distance"].to_numpy()))
