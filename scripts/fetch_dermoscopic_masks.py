"""Rule fetch_dermoscopic_masks: ISIC 2018 Task 2's attribute masks, downloaded once; record their folder."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from vitmed.data.fetch import fetch_dermoscopic_masks
from vitmed.jobs.io import write_json
from vitmed.jobs.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
folder = fetch_dermoscopic_masks(snakemake.params.downloads)
write_json(snakemake.output[0], {"dir": str(folder)})
log.info("ISIC 2018 Task 2 attribute masks: %s", folder)
