import numpy as np
import pytest
import torch

from vitmed.analysis.cka import MinibatchCKA, linear_cka


def full_gram_unbiased_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Reference straight from the definition (Song et al. 2012), one full Gram per side."""
    def hsic1(k, m):
        n = len(k)
        k, m = k.copy(), m.copy()
        np.fill_diagonal(k, 0)
        np.fill_diagonal(m, 0)
        ones = np.ones(n)
        return (np.trace(k @ m) + (ones @ k @ ones) * (ones @ m @ ones) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * ones @ k @ m @ ones) / (n * (n - 3))
    k, m = x @ x.T, y @ y.T
    return hsic1(k, m) / np.sqrt(hsic1(k, k) * hsic1(m, m))


@pytest.fixture
def features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 32))
    y = x @ rng.normal(size=(32, 24)) + 0.5 * rng.normal(size=(512, 24))  # related, not equal
    return torch.tensor(x), torch.tensor(y)


def test_cka_falls_from_one_to_zero_as_a_representation_is_replaced_by_noise(features):
    """1 for itself, near 0 for independent noise (the unbiased estimator is centred there), and
    falling monotonically in between: a similarity, not only a ratio of identical terms."""
    x, _ = features
    noise = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(3))
    assert linear_cka(x, x, batch_size=64) == pytest.approx(1.0, abs=1e-12)
    assert abs(linear_cka(x, noise, batch_size=64)) < 0.02
    values = [linear_cka(x, x + level * noise, batch_size=64) for level in (0.3, 1.0, 3.0)]
    assert 1 > values[0] > values[1] > values[2] > 0.02
    # the minibatch estimate of the middle value agrees with the full-Gram definition
    assert values[1] == pytest.approx(full_gram_unbiased_cka(x.numpy(), (x + noise).numpy()), abs=0.02)


def test_invariant_to_orthogonal_transforms_and_isotropic_scaling(features):
    x, y = features
    q, _ = torch.linalg.qr(torch.randn(32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    base = linear_cka(x, y, batch_size=64)
    assert linear_cka(x @ q, y, batch_size=64) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x, 7.5 * y, batch_size=64) == pytest.approx(base, abs=1e-10)
    assert linear_cka(0.01 * x @ q, y, batch_size=64) == pytest.approx(base, abs=1e-10)


def test_one_batch_equals_full_gram_unbiased_cka(features):
    x, y = features
    expected = full_gram_unbiased_cka(x.numpy(), y.numpy())
    assert linear_cka(x, y) == pytest.approx(expected, abs=1e-6)


def test_minibatches_stay_close_to_the_full_gram_value():
    """Measured gap on random features with batch 64 (stated in the README): a few thousandths."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1024, 64))
    y = np.tanh(x @ rng.normal(size=(64, 48))) + rng.normal(size=(1024, 48))
    full = full_gram_unbiased_cka(x, y)
    batched = linear_cka(torch.tensor(x), torch.tensor(y), batch_size=64)
    gap = abs(batched - full)
    assert gap < 0.02, (batched, full)
    assert gap > 0, "minibatch CKA is an estimator, not the full-Gram value"


def test_layer_by_layer_matrix():
    torch.manual_seed(0)
    a = [torch.randn(128, 16) for _ in range(3)]
    b = [a[2], torch.randn(128, 8)]
    metric = MinibatchCKA()
    for start in range(0, 128, 32):
        metric.update([t[start:start + 32] for t in a], [t[start:start + 32] for t in b])
    matrix = metric.compute()
    assert matrix.shape == (3, 2)
    assert matrix[2, 0] == pytest.approx(1.0, abs=1e-12)
    assert abs(matrix[0, 1]) < 0.2  # independent random features


def test_too_small_batch_is_an_error():
    with pytest.raises(ValueError, match="at least 4 images"):
        linear_cka(torch.randn(3, 2), torch.randn(3, 2))


def test_embedding_cka_between_models_uses_their_embeddings():
    """Model x model CKA of the last-layer embeddings: 1 on the diagonal and for a copy, equal to
    linear_cka on the embeddings computed directly, symmetric."""
    import timm

    from vitmed.analysis.cka import embedding_cka
    from vitmed.models.factory import embed

    torch.manual_seed(0)
    vit = timm.create_model("test_vit", num_classes=3, img_size=32, patch_size=8).eval()
    cnn = timm.create_model("test_resnet", num_classes=3).eval()
    copy = timm.create_model("test_vit", num_classes=3, img_size=32, patch_size=8).eval()
    copy.load_state_dict(vit.state_dict())
    images = torch.randn(64, 3, 32, 32)
    matrix = embedding_cka([vit, cnn, copy], [images[:32], images[32:]])
    assert matrix.shape == (3, 3)
    assert torch.allclose(matrix, matrix.T, atol=1e-6)
    assert torch.allclose(torch.diagonal(matrix), torch.ones(3, dtype=matrix.dtype), atol=1e-5)
    assert matrix[0, 2] == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        direct = linear_cka(embed(vit, images).double(), embed(cnn, images).double(), batch_size=32)
    assert matrix[0, 1].item() == pytest.approx(direct, abs=1e-4)
    assert matrix[0, 1] < 0.999


def test_the_analyses_see_full_batches_only(tmp_path):
    """Minibatch HSIC is unbiased per batch of equal size: a short last batch would weigh its few
    images as much as a full one (issue 22). 70 test images in batches of 32: two batches, and
    n_images caps them."""
    from vitmed.analysis.inputs import analysis_batches
    from vitmed.data.raw import read_plain_layout, write_plain_layout
    from vitmed.data.store import build_store
    from vitmed.data.synthetic import generate

    write_plain_layout(generate("lymph_patches", 70, 20, seed=0), tmp_path / "raw")
    build_store(read_plain_layout(tmp_path / "raw"), tmp_path / "store", image_size=20,
                ratios={"train": 0.0, "val": 0.0, "test": 1.0}, seed=0, metric="roc_auc")
    meta = tmp_path / "store" / "meta.json"
    sizes = [len(b) for b in analysis_batches(meta, {"batch_size": 32, "n_images": 512}, 16)]
    assert sizes == [32, 32]
    assert [len(b) for b in analysis_batches(meta, {"batch_size": 32, "n_images": 32}, 16)] == [32]


def test_unequal_lengths_are_an_error_not_a_shape_traceback():
    with pytest.raises(ValueError, match="x has 10 rows and y 9"):
        linear_cka(torch.randn(10, 3), torch.randn(9, 3))


def test_a_short_last_minibatch_is_left_out(features):
    """HSIC₁'s unbiased weights assume equal batches: 100 rows in batches of 64 use the first 64 only."""
    x, y = features
    assert linear_cka(x[:100], y[:100], batch_size=64) == pytest.approx(linear_cka(x[:64], y[:64]), abs=1e-12)
    assert linear_cka(x[:100], y[:100], batch_size=64) != pytest.approx(linear_cka(x[:100], y[:100]), abs=1e-6)
