"""Rule ingest: configured MIDI folders -> pieces.tsv + quarantine.tsv (thin adapter)."""
from _common import job

from jazz_solo.ingest import ingest

with job(snakemake):  # e.g. a corpus of junk only: one line
    p = snakemake.params
    ingest(p.corpus, p.target, p.split_ratios, p.seed, snakemake.output.pieces, snakemake.output.quarantine,
           snakemake.threads)
