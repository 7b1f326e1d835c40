"""Rule demo_midi: music21 corpus collection -> MIDI folder (thin adapter)."""
from _common import job

from jazz_solo.data.demo import convert_collection

with job(snakemake):
    convert_collection(snakemake.wildcards.collection, snakemake.params.pieces, snakemake.output[0], snakemake.threads)
