"""GPU speed-ups from config: bf16 autocast, channels-last memory format, ``torch.compile``.

All off by default (fp32, as the paper); each is numerically a different computation, so the
tables of a study that turns one on are its own results. They also run on CPU (slowly), which
is how they are tested here.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Speedups:
    precision: str = "fp32"       # fp32 | bf16 (autocast: matmuls and convolutions in bfloat16)
    channels_last: bool = False   # NHWC activations: faster convolutions on tensor cores
    compile: bool = False         # torch.compile the model's forward

    @classmethod
    def from_config(cls, hp: dict) -> Speedups:
        return cls(hp.get("precision", "fp32"), hp.get("channels_last", False), hp.get("compile", False))

    def prepare(self, model: nn.Module) -> nn.Module:
        """The module to call: ``model`` itself (whose state_dict is saved) or its compiled wrapper."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return torch.compile(model) if self.compile else model

    def autocast(self, device: torch.device):
        if self.precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def training_step(self, device: torch.device):
        """Wraps a step's forward *and* backward (the backward picks its convolution kernels anew).
        oneDNN's bf16 convolution backward gives NaN weight gradients at random on AVX512-BF16
        CPUs (torch 2.14.1): on CPU, where bf16 only ever runs in tests, ATen's kernels do it."""
        if self.precision == "bf16" and device.type == "cpu":
            return torch.backends.mkldnn.flags(enabled=False)
        return contextlib.nullcontext()

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images
