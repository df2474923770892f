"""Out-of-distribution tests: every model fine-tuned on a dataset, scored unchanged on another
dataset of the same classes from elsewhere (Piater et al.'s Table 2, in parentheses: ISIC
models on PAD-UFES-20, Camelyon17 models on another hospital's patches). The whole test
dataset is the test set; the metric is the one the model was selected and tested with."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from vitmed.data.augment import BatchEval
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.data.store import load_meta
from vitmed.evaluate.metrics import score
from vitmed.evaluate.predict import predict
from vitmed.jobs.devices import select_device
from vitmed.models.factory import load_finetuned

log = logging.getLogger(__name__)

IDENTITY = ["dataset", "model", "init", "seed", "weights", "n_parameters"]


def check_same_task(trained_dir: Path, test_dir: Path) -> dict:
    """The fine-tuning dataset's meta, once the test dataset is known to share its task and
    classes in the same order (a model's outputs are indices into them)."""
    trained, test = load_meta(trained_dir), load_meta(test_dir)
    for key in ("task", "classes"):
        if trained[key] != test[key]:
            raise ValueError(f"out-of-distribution test set {test_dir} has {key} {test[key]}, but the models of "
                             f"{trained_dir} were fine-tuned on {key} {trained[key]}")
    return trained


def evaluate_out_of_distribution(runs: list[dict], trained_dir: str | Path, test_dir: str | Path, *,
                                 input_size: int, batch_size: int, eval_crop: str = "center") -> list[dict]:
    """``runs``: one dict per fine-tuning run, with its ``model_config``, ``checkpoint``
    (best.pt) and ``metrics`` (its metrics.json). Returns one row per run: the run's identity,
    protocol ``ood``, the test set's name and the score on it beside the in-distribution one."""
    trained_dir, test_dir = Path(trained_dir), Path(test_dir)
    meta = check_same_task(trained_dir, test_dir)
    device = select_device()
    loader = store_loader(StoreDataset(test_dir, "test"), batch_size)
    transform = BatchEval(input_size, eval_crop)
    rows = []
    for run in runs:
        finetuned = json.loads(Path(run["metrics"]).read_text())
        model = load_finetuned(run["model_config"], len(meta["classes"]), run["checkpoint"])
        scores, labels = predict(model.to(device), loader, transform, meta["task"])
        value = score(finetuned["metric"], labels, scores)
        rows.append({**{key: finetuned[key] for key in IDENTITY}, "protocol": "ood", "metric": finetuned["metric"],
                     "value": value, "test_dataset": test_dir.name, "in_distribution": finetuned["value"]})
        log.info("%s %s seed %s: %s %.4f in distribution, %.4f on %s", finetuned["model"], finetuned["init"],
                 finetuned["seed"], finetuned["metric"], finetuned["value"], value, test_dir.name)
    return rows
