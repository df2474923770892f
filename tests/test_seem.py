"""SEEM's Focal-T backbone (vitmed.models.seem): timm's FocalNet with X-Decoder's residual depthwise
convolutions and post-LN order, loaded from a checkpoint written in SEEM's key layout and checked
against a reference network that computes in that layout (nn.Linear layers on channels-last
maps, downsampling at each stage's end, norms after the residual sums)."""
import timm
import torch
from torch import nn
from torch.nn import functional as F

from vitmed.models.factory import create_model, read_weights
from vitmed.models.seem import seem_state_dict

DIMS, DEPTHS, LEVELS, WINDOW = (96, 192, 384, 768), (2, 2, 6, 2), 3, 3


class ReferenceModulation(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.f = nn.Linear(dim, 2 * dim + LEVELS + 1)
        self.h = nn.Conv2d(dim, dim, 1)
        self.proj = nn.Linear(dim, dim)
        self.focal_layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dim, dim, 2 * k + WINDOW, padding=(2 * k + WINDOW) // 2, groups=dim, bias=False),
                          nn.GELU()) for k in range(LEVELS))

    def forward(self, x):  # (B, H, W, C)
        dim = x.shape[-1]
        q, ctx, gates = torch.split(self.f(x).permute(0, 3, 1, 2), (dim, dim, LEVELS + 1), 1)
        context = 0
        for level, layer in enumerate(self.focal_layers):
            ctx = layer(ctx)
            context = context + ctx * gates[:, level:level + 1]
        context = (context + F.gelu(ctx.mean((2, 3), keepdim=True)) * gates[:, LEVELS:]) / (LEVELS + 1)
        return self.proj((q * self.h(context)).permute(0, 2, 3, 1))


class ReferenceBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dw1 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim)
        self.modulation = ReferenceModulation(dim)
        self.dw2 = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential()
        self.mlp.fc1, self.mlp.act, self.mlp.fc2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        self.gamma_1, self.gamma_2 = nn.Parameter(torch.randn(dim)), nn.Parameter(torch.randn(dim))

    def forward(self, x):  # (B, H, W, C)
        def depthwise(conv, y):
            return y + conv(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

        x = depthwise(self.dw1, x)
        x = self.norm1(x + self.gamma_1 * self.modulation(x))
        x = depthwise(self.dw2, x)
        return self.norm2(x + self.gamma_2 * self.mlp(x))


class ReferenceEmbed(nn.Module):
    def __init__(self, in_dim, dim, stem):
        super().__init__()
        self.proj = nn.Conv2d(in_dim, dim, 7 if stem else 3, stride=4 if stem else 2, padding=3 if stem else 1)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):  # (B, C, H, W) -> (B, H, W, C)
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class ReferenceFocalDW(nn.Module):
    """SEEM's backbone as its checkpoint lays it out: ``layers.i.downsample`` ends stage i."""

    def __init__(self):
        super().__init__()
        self.patch_embed = ReferenceEmbed(3, DIMS[0], stem=True)
        self.layers = nn.ModuleList()
        for i, (dim, depth) in enumerate(zip(DIMS, DEPTHS)):
            stage = nn.Module()
            stage.blocks = nn.ModuleList(ReferenceBlock(dim) for _ in range(depth))
            if i < 3:
                stage.downsample = ReferenceEmbed(dim, DIMS[i + 1], stem=False)
            self.layers.append(stage)
        for i, dim in enumerate(DIMS):
            self.add_module(f"norm{i}", nn.LayerNorm(dim))

    def forward(self, x):
        x = self.patch_embed(x)
        for i, stage in enumerate(self.layers):
            for block in stage.blocks:
                x = block(x)
            out = getattr(self, f"norm{i}")(x)
            if i < 3:
                x = stage.downsample(x.permute(0, 3, 1, 2))
        return out.permute(0, 3, 1, 2)  # the last stage's normalized map


def seem_checkpoint(seed=0):
    torch.manual_seed(seed)
    reference = ReferenceFocalDW().eval()
    with torch.no_grad():
        for name, parameter in reference.named_parameters():
            if "norm" in name:  # non-trivial norms: a swapped norm would show
                parameter.copy_(1 + 0.1 * torch.randn_like(parameter) if name.endswith("weight")
                                else 0.1 * torch.randn_like(parameter))
            elif "gamma" in name:
                parameter.mul_(0.3)
    checkpoint = {f"backbone.{k}": v for k, v in reference.state_dict().items()}
    checkpoint["sem_seg_head.predictor.class_embed"] = torch.zeros(512, 512)  # the rest of SEEM: ignored
    return reference, checkpoint


def test_seem_focal_t_has_the_papers_parameter_count_and_timm_features():
    model = timm.create_model("seem_focal_t", num_classes=0)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 29.9  # the paper's 29.9M
    x = torch.randn(2, 3, 64, 64)
    assert model(x).shape == (2, 768)  # global average pooling: no CLS token
    features = timm.create_model("seem_focal_t", features_only=True)(x)
    assert [f.shape[1:] for f in features] == [(96, 16, 16), (192, 8, 8), (384, 4, 4), (768, 2, 2)]


def test_seem_checkpoint_mapped_onto_timm_computes_seems_backbone(tmp_path):
    reference, checkpoint = seem_checkpoint()
    torch.save({"model": checkpoint}, tmp_path / "seem_focalt_v0.pt")
    state = read_weights(tmp_path / "seem_focalt_v0.pt")
    assert "norm.weight" in state and "layers.1.downsample.proj.weight" in state and not any(
        k.startswith(("norm0", "sem_seg_head", "layers.0.downsample")) for k in state)
    model = create_model("seem_focal_t", 5, str(tmp_path / "seem_focalt_v0.pt")).eval()  # strict but the head
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(model.forward_features(x), expected, atol=2e-4, rtol=1e-4)
        pooled = model.forward_head(model.forward_features(x), pre_logits=True)
    torch.testing.assert_close(pooled, expected.mean((2, 3)), atol=2e-4, rtol=1e-4)


def test_a_mapping_error_would_show():
    """The reference and the mapped model differ when one piece of the mapping is wrong: the
    test above can fail."""
    reference, checkpoint = seem_checkpoint(seed=1)
    state = seem_state_dict(checkpoint)
    state["layers.2.blocks.0.dw2.weight"], state["layers.2.blocks.0.dw1.weight"] = (
        state["layers.2.blocks.0.dw1.weight"], state["layers.2.blocks.0.dw2.weight"])
    model = timm.create_model("seem_focal_t", num_classes=0).eval()
    model.load_state_dict(state, strict=False)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (model.forward_features(x) - reference(x)).abs().max() > 1e-2


def test_seem_has_no_hub_weights_and_a_checkpoint_without_its_backbone_is_named():
    import pytest

    with pytest.raises(ValueError, match="seem_focal_t has no timm hub weights"):
        timm.create_model("seem_focal_t", pretrained=True)
    with pytest.raises(ValueError, match=r"no SEEM backbone weights \(keys backbone\.\*\)"):
        seem_state_dict({"sem_seg_head.x": torch.zeros(1)})
