"""Evaluation of the *initialized* encoders (before fine-tuning) of one dataset, for every
model, init and seed: the loop shared by the k-NN and linear-probe jobs (one job per dataset:
these evaluations are cheap next to a job's start-up)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from vitmed.data.store import load_meta
from vitmed.evaluate.knn import knn_evaluate
from vitmed.evaluate.linear_probe import linear_probe_evaluate
from vitmed.models.factory import build_model, count_parameters, describe_weights

log = logging.getLogger(__name__)


def evaluate_initialized(dataset: str, protocol: str, models: dict, weights: dict, data_dirs: dict[int, str | Path],
                         n_classes: int, evaluate: Callable[[nn.Module, str | Path], dict]) -> list[dict]:
    """One row per (model, init, seed): ``evaluate(encoder, data_dir)``'s result on the seed's
    store (``data_dirs``: seed -> store; one split for every seed unless repetitions are data
    splits) and the run's identity. A pretrained encoder is the same for every seed (only the
    unused head differs): on one split it is evaluated once and reported for each seed, as the
    paper's "± 0.000" shows."""
    rows = []
    for model_name, model_cfg in models.items():
        for init, init_weights in weights[model_name].items():
            result = result_dir = None
            for seed, data_dir in data_dirs.items():
                if result is None or init_weights is None or data_dir != result_dir:
                    torch.manual_seed(seed)
                    model = build_model(model_cfg, n_classes, init_weights)
                    result, result_dir = evaluate(model, data_dir), data_dir
                rows.append(dict(result, dataset=dataset, model=model_name, init=init, seed=seed, protocol=protocol,
                                 weights=describe_weights(init_weights), n_parameters=count_parameters(model)))
                log.info("%s %s seed %d: %s %s = %.4f", model_name, init, seed, protocol, result["metric"],
                         result["value"])
    return rows


def evaluate_dataset(protocol: str, dataset: str, data_dirs: dict[int, str | Path], *, models: dict, weights: dict,
                     input_size: int, eval_crop: str, settings: dict) -> list[dict]:
    """The rows of one dataset's k-NN (``protocol`` "knn", ``settings`` = config ``knn``) or
    linear-probe ("linear", config ``linear_probe``) evaluation of every initialized encoder, for
    each seed on its store (``data_dirs``: seed -> store)."""
    if protocol == "knn":
        def evaluate(model, data_dir):
            return knn_evaluate(model, data_dir, k=settings["k"], temperature=settings["temperature"],
                                input_size=input_size, batch_size=settings["batch_size"], eval_crop=eval_crop)
    elif protocol == "linear":
        def evaluate(model, data_dir):
            return linear_probe_evaluate(model, data_dir, l2_grid=settings["l2"], max_iter=settings["max_iter"],
                                         input_size=input_size, batch_size=settings["batch_size"],
                                         eval_crop=eval_crop)
    else:
        raise ValueError(f"protocol {protocol!r}: the initialized encoders are evaluated by 'knn' or 'linear'")
    n_classes = len(load_meta(next(iter(data_dirs.values())))["classes"])
    return evaluate_initialized(dataset, protocol, models, weights, data_dirs, n_classes, evaluate)
