"""bf16 autocast, channels-last and torch.compile in the training loop (on CPU here)."""
import timm
import torch
from torch import nn

from vitmed.evaluate.predict import predict
from vitmed.jobs.speedups import Speedups
from vitmed.train.finetune import train_epoch


def batches(n=2):
    generator = torch.Generator().manual_seed(0)
    return [(torch.randint(0, 255, (8, 3, 32, 32), dtype=torch.uint8, generator=generator),
             torch.randint(0, 3, (8,), generator=generator)) for _ in range(n)]


def to_float(images):
    return images.float() / 255


class Identity(nn.Module):
    def forward(self, x):
        return to_float(x)


def run(speedups, model_name="test_resnet"):
    torch.manual_seed(0)
    model = timm.create_model(model_name, num_classes=3)
    forward = speedups.prepare(model)
    dtypes = []
    model.get_classifier().register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = train_epoch(forward, batches(), Identity(), nn.CrossEntropyLoss(), opt, lambda: 0.1,
                         {"iteration": 0}, speedups)
    scores, _ = predict(forward, batches(1), Identity(), "multiclass", speedups)
    return model, losses, scores, dtypes


def test_bf16_autocast_runs_the_model_in_bfloat16_and_stays_close():
    _, fp32_losses, fp32_scores, fp32_dtypes = run(Speedups())
    _, bf16_losses, bf16_scores, bf16_dtypes = run(Speedups(precision="bf16"))
    assert set(fp32_dtypes) == {torch.float32} and set(bf16_dtypes) == {torch.bfloat16}
    assert bf16_scores.dtype == fp32_scores.dtype  # scores come back as float32 either way
    assert abs(bf16_losses[0] - fp32_losses[0]) < 0.05 and bf16_losses != fp32_losses


def test_channels_last_is_the_same_computation_in_another_layout():
    model, losses, scores, _ = run(Speedups(channels_last=True))
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last)
    _, base_losses, base_scores, _ = run(Speedups())
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(base_losses), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.tensor(scores), torch.tensor(base_scores), rtol=1e-4, atol=1e-5)


def test_compiled_forward_trains_the_same_weights():
    model, losses, scores, _ = run(Speedups(compile=True), "test_vit")
    _, base_losses, base_scores, _ = run(Speedups(), "test_vit")
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(base_losses), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(torch.tensor(scores), torch.tensor(base_scores), rtol=1e-4, atol=1e-4)
    assert not any(key.startswith("_orig_mod") for key in model.state_dict()), "weights saved unwrapped"
