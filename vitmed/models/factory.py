"""timm models and the one resolver for their initial weights.

An initialization is described by a *weights source*:
  ``None``          random init (timm's default: Kaiming for ResNets, trunc-normal for ViTs)
  ``"timm-hub"``    timm's pretrained ImageNet weights for the model name (connected machines)
  a file path       a state dict written by this pipeline (synthetic-source pretraining, DINO)
                    or supplied by the user; the classifier head is dropped and re-initialized.
"""
from __future__ import annotations

from pathlib import Path

import timm
import torch
from timm.layers import resample_abs_pos_embed
from torch import nn

from vitmed.data.constants import IMAGENET_MEAN, IMAGENET_STD
from vitmed.models.appended import append_classifier, appended_foundation, decapitate
from vitmed.models.freezing import freeze, freeze_all_but_head, freeze_first_blocks
from vitmed.models.seem import is_seem_checkpoint, seem_state_dict  # also registers seem_focal_t with timm
from vitmed.models.self_attention import PREFIX as ATTENTION_PREFIX
from vitmed.models.self_attention import insert_global_attention, replace_with_local_attention
from vitmed.study import HUB


def _classifier_prefixes(model: nn.Module) -> tuple[str, ...]:
    head = model.pretrained_cfg.get("classifier", "head")
    heads = head if isinstance(head, (list, tuple)) else [head]
    return tuple(f"{h}." for h in heads)


# Publishers' checkpoints holding a timm-layout image encoder under a prefix, beside other parts:
# BLIP's (Salesforce, models/vit.py is timm's ViT) keep it as visual_encoder.*, its momentum copy
# as visual_encoder_m.*, the text encoders elsewhere.
ENCODER_PREFIXES = ("visual_encoder.",)


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict in timm's key layout: a plain one, one under ``model`` (DeiT's, BLIP's
    releases), a publisher's image encoder under its prefix (``ENCODER_PREFIXES``), or SEEM's
    checkpoint mapped onto ``seem_focal_t`` (``vitmed.models.seem``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("model", state)
    if is_seem_checkpoint(state):
        return seem_state_dict(state)
    for prefix in ENCODER_PREFIXES:
        encoder = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
        if encoder:
            return encoder
    return state


def fit_position_embedding(model: nn.Module, state: dict) -> dict:
    """A ViT's weights for another input size (a segmentation model at 512 pixels from 224-pixel
    ImageNet weights): the position embedding's patch grid resampled to the model's, as timm
    does when it loads hub weights; prefix (CLS) tokens kept as they are."""
    own = getattr(model, "pos_embed", None)
    saved = state.get("pos_embed")
    if own is None or saved is None or saved.shape == own.shape:
        return state
    prefix = 0 if getattr(model, "no_embed_class", False) else model.num_prefix_tokens
    return {**state, "pos_embed": resample_abs_pos_embed(saved, new_size=list(model.patch_embed.grid_size),
                                                        num_prefix_tokens=prefix)}


def load_backbone_weights(model: nn.Module, path: str | Path, state: dict | None = None) -> None:
    """Load a state dict (``state``, else read from ``path``) into ``model`` except its
    classifier; any other mismatch is an error naming ``path``."""
    state = fit_position_embedding(model, read_weights(path) if state is None else state)
    prefixes = _classifier_prefixes(model)
    state = {k: v for k, v in state.items() if not k.startswith(prefixes)}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(prefixes)]
    if not any(k.startswith(f"{ATTENTION_PREFIX}.") for k in state):
        # the base CNN's weights: self-attention blocks keep their identity initialization
        missing = [k for k in missing if not k.startswith(f"{ATTENTION_PREFIX}.")]
    if missing or result.unexpected_keys:
        raise ValueError(f"weights file {path} does not fit {model.pretrained_cfg.get('architecture')}: "
                         f"missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}")


def _holds_modules(state: dict, model: nn.Module, modules: list[str]) -> bool:
    """Whether ``state`` holds the named modules of ``model`` as they are (the base CNN's file),
    rather than what LA or ELA made of them (a variant's file). BatchNorm's
    ``num_batches_tracked``, absent from older files, does not count."""
    own = [k for k in model.state_dict() if k.startswith(tuple(f"{m}." for m in modules))
           and not k.endswith("num_batches_tracked")]
    return all(k in state for k in own)


def _renormalize(module: nn.Module, args: tuple) -> tuple:
    return (args[0] * module.input_scale + module.input_shift, *args[1:])


def match_input_normalization(model: nn.Module) -> nn.Module:
    """Inputs arrive normalized with ImageNet's mean and std (``vitmed.data.augment``). A model whose
    weights expect another normalization (timm's ``pretrained_cfg``: CLIP's statistics,
    Inception's 0.5) gets the exact affine change before its first convolution, so every entry
    point (forward, forward_features, forward_intermediates) sees the inputs its weights were
    trained on. The constants are non-persistent buffers: they follow the model to its device
    and stay out of its weights files."""
    cfg = model.pretrained_cfg
    mean, std = tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))
    if (mean, std) == (IMAGENET_MEAN, IMAGENET_STD) or len(mean) != 3:
        return model
    first = model.get_submodule(cfg["first_conv"])
    target_mean, target_std = torch.tensor(mean), torch.tensor(std)
    # x_model = (x * std_in + mean_in - mean_model) / std_model
    first.register_buffer("input_scale", (torch.tensor(IMAGENET_STD) / target_std).view(1, 3, 1, 1), persistent=False)
    first.register_buffer("input_shift", ((torch.tensor(IMAGENET_MEAN) - target_mean) / target_std).view(1, 3, 1, 1),
                          persistent=False)
    first.register_forward_pre_hook(_renormalize)
    return model


def _check_nothing_hooked_is_replaced(model: nn.Module, stages: list[str], modules: list[str]) -> None:
    """GA blocks and the input renormalization run as hooks of modules: a module that LA
    replaces (or one that holds it) would silently drop them."""
    hooked = [*stages, model.pretrained_cfg.get("first_conv", "")]
    clash = [(m, h) for m in modules for h in hooked if h and (h == m or h.startswith(f"{m}."))]
    if clash:
        raise ValueError(f"self_attention.local.modules: {clash[0][0]!r} would replace {clash[0][1]!r}, whose "
                         "hook runs a GA block or the input normalization; choose modules after it")


def create_model(timm_name: str, num_classes: int, weights: str | None = None,
                 model_kwargs: dict | None = None, self_attention: dict | None = None) -> nn.Module:
    """A timm model, extended by ``self_attention`` (a ``models.<name>.self_attention`` entry:
    GA blocks after stages, LA or ELA in place of modules; ``vitmed.models.self_attention``).
    ``weights`` (a file, or ``HUB`` for timm's pretrained weights) may be the variant's own, from
    a run of this pipeline, or the base CNN's: GA blocks then start as the identity, ELA as the
    module it extends, and LA from scratch where the CNN had the modules it replaces."""
    self_attention = self_attention or {}
    model = timm.create_model(timm_name, pretrained=weights == HUB, num_classes=num_classes, **(model_kwargs or {}))
    match_input_normalization(model)
    local = self_attention.get("local")
    if local:
        _check_nothing_hooked_is_replaced(model, self_attention.get("global_after", []), local["modules"])
    if self_attention.get("global_after"):
        insert_global_attention(model, list(self_attention["global_after"]))
    state = None if weights in (None, HUB) else read_weights(weights)
    if local and state is not None and _holds_modules(state, model, local["modules"]):
        load_backbone_weights(model, weights, state)  # the base CNN's file: into the modules LA/ELA take over
        state = None
    if local:
        replace_with_local_attention(model, **local)
    if state is not None:
        load_backbone_weights(model, weights, state)
    return model


def kaiming_init(model: nn.Module) -> nn.Module:
    """He et al.'s normal initialization (fan in, ReLU gain) of every convolution and linear
    weight, biases zero: the ViT paper's "Kaiming initialization" read literally."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def build_model(model_config: dict, num_classes: int, weights: str | None = None) -> nn.Module:
    """``create_model`` from a study's ``models.<name>`` entry; from random init, timm's own
    initialization unless the entry says ``random_init: kaiming``; a ViT entry with its own
    ``input_size`` is built for it (the position embedding of its weights resampled). An entry with ``appended``
    is a foundation (``weights``; its first ``decapitate`` blocks only, if set) with a ViT
    classifier appended (vitmed.models.appended), which starts from its own ``weights`` (timm's
    hub by default) whenever the foundation starts from weights; ``frozen`` freezes the
    foundation and trains the appended classifier."""
    appended = model_config.get("appended")
    kwargs = model_config.get("kwargs")
    if model_config.get("input_size") and model_config["family"] == "vit":  # its own size: the patch grid follows
        kwargs = {**(kwargs or {}), "img_size": model_config["input_size"]}
    model = create_model(model_config["timm_name"], 0 if appended else num_classes, weights, kwargs,
                         model_config.get("self_attention"))
    if weights is None and model_config.get("random_init", "timm") == "kaiming":
        kaiming_init(model)
    if appended:
        if model_config.get("decapitate"):
            decapitate(model, model_config["decapitate"])
        source = appended.get("weights", "hub")
        classifier = create_model(appended["timm_name"], num_classes,
                                  None if weights is None or source is None else HUB if source == "hub" else source,
                                  {**appended.get("kwargs", {}), "dynamic_img_size": True})
        model = append_classifier(model, classifier)
        if model_config.get("frozen", False):
            freeze(appended_foundation(model))
        return model
    if model_config.get("frozen", False):
        return freeze_all_but_head(model)
    return freeze_first_blocks(model, model_config.get("freeze_blocks", 0))


def describe_weights(weights: str | None) -> str:
    """The provenance of an initialization, as shown in the tables."""
    if weights is None:
        return "random"
    if weights == HUB:
        return "timm hub"
    return f"file:{Path(weights).name}"


def count_parameters(model: nn.Module) -> int:
    """All parameters, classifier head included (Table 4's capacity axis)."""
    return sum(p.numel() for p in model.parameters())


def embed(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The paper's k-NN embedding: CLS token for ViTs, pooled penultimate features for CNNs
    (timm's ``forward_head(pre_logits=True)`` gives exactly these for each family).
    Differentiable: DINO trains the backbone through it."""
    return model.forward_head(model.forward_features(images), pre_logits=True)


def load_finetuned(model_config: dict, num_classes: int, checkpoint: str | Path) -> nn.Module:
    """A fine-tuned model from its ``best.pt``, in eval mode."""
    model = build_model(model_config, num_classes)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return model.eval()
