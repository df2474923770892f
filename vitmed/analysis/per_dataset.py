"""The representation analyses of one dataset, as tidy rows: CKA (layer x layer, initialized vs
fine-tuned; last layer across models), attention distance (Figure 5) and the arrays of Figure 4.

They share their inputs, so one job per dataset runs them all and loads each model pair once,
one init at a time (never the whole study in memory).
"""
from __future__ import annotations

import logging
from itertools import groupby
from pathlib import Path

import numpy as np
import pandas as pd

from vitmed.analysis.attention_distance import attention_distances
from vitmed.analysis.cka import embedding_cka, layerwise_cka
from vitmed.analysis.inputs import analysis_batches, load_model_pairs
from vitmed.analysis.saliency import cls_attention, grad_cam
from vitmed.data.augment import BatchEval
from vitmed.data.dataset import StoreDataset

log = logging.getLogger(__name__)


def runs_by_init(runs: list[dict]) -> list[tuple[str, list[dict]]]:
    """The runs of ``analysis_runs`` grouped by init, in the order of the inits' names."""
    ordered = sorted(runs, key=lambda run: run["init"])
    return [(init, list(group)) for init, group in groupby(ordered, key=lambda run: run["init"])]


def cka_rows(dataset: str, init: str, pairs: list, batches) -> tuple[list[dict], list[dict]]:
    """(a) Layer x layer CKA of each initialized model against its fine-tuned self; (b) last-layer
    CKA between the models, initialized and fine-tuned. ``pairs``: (run, initialized, tuned)
    of one init; ``batches()`` yields the same images at every call."""
    layer_rows, model_rows = [], []
    for run, initialized, tuned in pairs:
        matrix = layerwise_cka(initialized, tuned, batches()).numpy()
        layer_rows += [{"dataset": dataset, "model": run["model"], "init": init, "layer_initialized": i,
                        "layer_finetuned": j, "cka": float(matrix[i, j])}
                       for i in range(matrix.shape[0]) for j in range(matrix.shape[1])]
    names = [run["model"] for run, _, _ in pairs]
    for stage, position in (("initialized", 1), ("finetuned", 2)):
        matrix = embedding_cka([pair[position] for pair in pairs], batches()).numpy()
        model_rows += [{"dataset": dataset, "init": init, "stage": stage, "model_a": a, "model_b": b,
                        "cka": float(matrix[i, j])}
                       for i, a in enumerate(names) for j, b in enumerate(names)]
    return layer_rows, model_rows


def attention_rows(dataset: str, run: dict, initialized, tuned, batches, n_images: int) -> pd.DataFrame:
    """Mean attention distance per layer and head of a ViT, initialized and fine-tuned."""
    return pd.concat([attention_distances(model, batches(), n_images).assign(
        dataset=dataset, model=run["model"], init=run["init"], stage=stage)
        for stage, model in (("initialized", initialized), ("finetuned", tuned))], ignore_index=True)


def saliency_arrays(data_dir: str | Path, cnn, vit, saliency: dict, input_size: int,
                    eval_crop: str = "center") -> dict[str, np.ndarray]:
    """Figure 4 on the first test images: the images as fed, Grad-CAM of the fine-tuned CNN,
    the fine-tuned ViT's CLS attention per head and its top-``mass`` mask."""
    test = StoreDataset(Path(data_dir), "test")
    images, labels = test[list(range(min(saliency["n_images"], len(test))))]
    evaluate = BatchEval(input_size, eval_crop)
    inputs, shown = evaluate(images), evaluate.geometry(images)  # the maps are of the pixels shown
    attention, kept = cls_attention(vit, inputs, saliency["mass"])
    return {"images": shown.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy(),
            "labels": labels.numpy(), "grad_cam": grad_cam(cnn, inputs, saliency["cnn_stage"]),
            "attention": attention, "kept": kept,
            "cnn": np.array(saliency["cnn"]), "vit": np.array(saliency["vit"])}


def analyze_dataset(dataset: str, meta_path: str | Path, runs: list[dict], model_configs: dict, analysis: dict,
                    saliency: dict | None, input_size: int, eval_crop: str = "center") -> dict:
    """The analysis job of one dataset, init by init (each model pair loaded once): CKA tables
    ``cka_layers`` and ``cka_models``, ``attention`` distances of ``analysis.attention_models``
    (None without any), and Figure 4's ``saliency`` arrays (None unless ``saliency`` is given)."""
    def batches():
        return analysis_batches(meta_path, analysis, input_size, eval_crop)

    layer_rows, model_rows, distances, arrays = [], [], [], None
    for init, init_runs in runs_by_init(runs):
        pairs = list(load_model_pairs(meta_path, init_runs, model_configs))
        layers, models = cka_rows(dataset, init, pairs, batches)
        layer_rows += layers
        model_rows += models
        for run, initialized, finetuned in pairs:
            if run["model"] in analysis["attention_models"]:
                distances.append(attention_rows(dataset, run, initialized, finetuned, batches, analysis["n_images"]))
                log.info("%s %s: mean attention distance %.2f px", run["model"], init,
                         distances[-1]["distance"].mean())
        if saliency is not None and init == saliency["init"]:
            tuned = {run["model"]: model for run, _, model in pairs}
            arrays = saliency_arrays(Path(meta_path).parent, tuned[saliency["cnn"]], tuned[saliency["vit"]],
                                     saliency, input_size, eval_crop)
            log.info("saliency of %d images: %.0f%% of patches hold %.0f%% of the CLS attention",
                     len(arrays["labels"]), 100 * arrays["kept"].mean(), 100 * saliency["mass"])
    log.info("CKA of %d models x %d inits", len({row["model"] for row in layer_rows}), len(runs_by_init(runs)))
    return {"cka_layers": pd.DataFrame(layer_rows), "cka_models": pd.DataFrame(model_rows),
            "attention": pd.concat(distances, ignore_index=True) if distances else None, "saliency": arrays}
