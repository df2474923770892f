"""Evaluation of the *initialized* encoders (before fine-tuning) of one dataset, for every
model, init and seed: the loop shared by the k-NN and linear-probe jobs."""
from __future__ import annotations

import logging
from typing import Callable

import torch
from torch import nn

from vitmed.models import build_model, count_parameters, describe_weights

log = logging.getLogger(__name__)


def evaluate_initialized(dataset: str, protocol: str, models: dict, weights: dict, seeds: list[int],
                         n_classes: int, evaluate: Callable[[nn.Module], dict]) -> list[dict]:
    """One row per (model, init, seed): ``evaluate(encoder)``'s result and the run's identity.
    A pretrained encoder is the same for every seed (only the unused head differs): it is
    evaluated once and reported for each seed, as the paper's "± 0.000" shows."""
    rows = []
    for model_name, model_cfg in models.items():
        for init, init_weights in weights[model_name].items():
            result = None
            for seed in seeds:
                if result is None or init_weights is None:
                    torch.manual_seed(seed)
                    model = build_model(model_cfg, n_classes, init_weights)
                    result = evaluate(model)
                rows.append(dict(result, dataset=dataset, model=model_name, init=init, seed=seed, protocol=protocol,
                                 weights=describe_weights(init_weights), n_parameters=count_parameters(model)))
                log.info("%s %s seed %d: %s %s = %.4f", model_name, init, seed, protocol, result["metric"],
                         result["value"])
    return rows
