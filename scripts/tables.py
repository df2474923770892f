"""Rule tables: Table 1 (fine-tuning), Table 3 (k-NN), the linear probe and the out-of-distribution
tests as CSV, Markdown and LaTeX."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.io import write_text
from vitmed.report.tables import ordered, summarize, to_latex, to_markdown
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
params = snakemake.params
runs = pd.read_parquet(snakemake.input[0])
titles = {"table1": ("finetune", "Table 1: fine-tuning, median ± std over seeds"),
          "table3": ("knn", "Table 3: k-NN evaluation of the initialized encoders, median ± std over seeds"),
          "linear_probe": ("linear", "Linear probe of the initialized (frozen) encoders, median ± std over seeds"),
          "ood": ("ood", "Out-of-distribution tests of the fine-tuned models ("
                  + ", ".join(f"{trained} → {test}" for trained, test in params.ood.items())
                  + "), median ± std over seeds")}
for name in params.tables:
    protocol, title = titles[name]
    # each dataset's column: the OOD table has those with a test set only
    metrics = {d: m for d, m in params.datasets.items() if name != "ood" or d in params.ood}
    table = ordered(summarize(runs, protocol), params.inits, params.models, list(metrics))
    missing = table["median"].isna().sum()
    if missing:
        log.warning("%s: %d empty cells", name, missing)
    write_text(snakemake.output[f"{name}_csv"], table.to_csv(index=False))
    write_text(snakemake.output[f"{name}_md"], to_markdown(table, metrics, f"{title} ({params.study})"))
    write_text(snakemake.output[f"{name}_tex"], to_latex(table, metrics, f"{title} ({params.study})"))
