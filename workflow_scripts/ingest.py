"""Rule ingest: configured MIDI folders -> pieces.tsv + quarantine.tsv (thin adapter)."""
from _common import job

from jazz_solo.data.ingest import ingest

with job(snakemake) as run:  # e.g. a corpus of junk only: one line
    s = run.settings
    ingest(s.data.corpus, s.data.target, s.data.split_ratios, s.seed, snakemake.output.pieces,
           snakemake.output.quarantine, snakemake.threads)
