"""Rule figure2: test images with the true and the predicted lesion contours of both encoders."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

from vitmed.data.augment import BatchEval
from vitmed.data.dataset import StoreDataset
from vitmed.data.store import load_meta
from vitmed.evaluate.segmentation import segmentation_examples
from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.models.segmentation import load_segmenter
from vitmed.report.figures import figure2, save_figure

setup_job(snakemake.log[0], threads=0)
params = snakemake.params
checkpoints = iter(snakemake.input.weights)  # per dataset, the first seed's best.pt of each family's model
examples = {}
for dataset, data_dir in zip(params.datasets, [Path(p).parent for p in snakemake.input.meta]):
    meta = load_meta(data_dir)
    models = {family: load_segmenter(model["config"], len(meta["classes"]), next(checkpoints),
                                     input_size=params.input_size, output_stride=params.output_stride)
              for family, model in params.models.items()}
    examples[dataset] = segmentation_examples(StoreDataset(data_dir, "test"), models,
                                              BatchEval(meta["image_size"], "resize"), params.n_images)
save_figure(figure2(examples, {family: model["name"] for family, model in params.models.items()}),
            named_files(snakemake.output, "figure2"))
