"""Rule cka: layer x layer linear CKA between each initialized model and its fine-tuned self."""
import pandas as pd

from vitmed.analysis_data import analysis_batches, load_model_pairs
from vitmed.cka import layerwise_cka
from vitmed.io import write_parquet
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
wc, params = snakemake.wildcards, snakemake.params
rows = []
for init, initialized, tuned in load_model_pairs(snakemake.input, params):
    matrix = layerwise_cka(initialized, tuned, analysis_batches(snakemake.input.meta, params)).numpy()
    rows += [{"dataset": wc.dataset, "model": wc.model, "init": init, "layer_initialized": i,
              "layer_finetuned": j, "cka": float(matrix[i, j])}
             for i in range(matrix.shape[0]) for j in range(matrix.shape[1])]
    log.info("%s: diagonal CKA %s", init, matrix.diagonal().round(3).tolist())
write_parquet(snakemake.output[0], pd.DataFrame(rows))
