"""Rule tokenize: pieces.tsv -> window sets + index + summary for one data instance (thin adapter)."""
from pathlib import Path

from _common import job

from jazz_solo.data.dataset import tokenize

with job(snakemake) as run:
    tokenize(snakemake.input.pieces, Path(snakemake.output.summary).parent, run.settings.data, snakemake.threads)
